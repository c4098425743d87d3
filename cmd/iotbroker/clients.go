package main

import (
	"cmp"
	"slices"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/iotmqtt/iotmqtt/broker"
)

// clientJSON is a connected client as the control API shows it.
type clientJSON struct {
	ClientID        string `json:"client_id"`
	Listener        string `json:"listener"`
	Remote          string `json:"remote"`
	Username        string `json:"username,omitempty"`
	Keepalive       uint16 `json:"keepalive"`
	CleanSession    bool   `json:"clean_session"`
	ProtocolVersion byte   `json:"protocol_version"`
	ServerName      string `json:"sni,omitempty"`
	ALPN            string `json:"alpn,omitempty"`
	PeerCN          string `json:"cn,omitempty"`
	// ConnectedAt and ConnectSeq are those of the client's latest CONNECT.
	ConnectedAt string `json:"connected_at,omitempty"`
	ConnectSeq  uint64 `json:"connect_seq,omitempty"`
}

// clientTracker remembers each client id's latest CONNECT, for what mochi
// does not keep: when it connected, and its TLS details as the broker saw
// them. It reads the recorder when asked, so a client whose CONNACK was
// sent is listed with its CONNECT (the recorder has it by then).
type clientTracker struct {
	rec *broker.Recorder

	mu       sync.Mutex              // guards connects, seen
	connects map[string]broker.Event // by client id
	seen     uint64                  // the last CONNECT read
}

func newClientTracker(rec *broker.Recorder) *clientTracker {
	return &clientTracker{rec: rec, connects: make(map[string]broker.Event)}
}

// catchUp takes in the CONNECTs recorded since the last call. The caller
// holds t.mu.
func (t *clientTracker) catchUp() {
	for _, e := range t.rec.Events(broker.Match{Kind: broker.KindConnect, After: t.seen}) {
		t.connects[e.ClientID] = e
		t.seen = e.Seq
	}
}

// list returns the clients connected to srv, by client id, and forgets the
// CONNECTs of client ids mochi no longer knows.
func (t *clientTracker) list(srv *mqtt.Server) []clientJSON {
	all := srv.Clients.GetAll()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.catchUp()
	for id := range t.connects {
		if _, ok := all[id]; !ok {
			delete(t.connects, id)
		}
	}
	out := []clientJSON{}
	for id, cl := range all {
		if cl.Net.Inline || cl.Closed() {
			continue
		}
		c := clientJSON{
			ClientID: id, Listener: cl.Net.Listener, Remote: cl.Net.Remote,
			Username: string(cl.Properties.Username), Keepalive: cl.State.Keepalive,
			CleanSession: cl.Properties.Clean, ProtocolVersion: cl.Properties.ProtocolVersion,
		}
		if e, ok := t.connects[id]; ok {
			c.Remote, c.ServerName, c.ALPN, c.PeerCN = e.Remote, e.ServerName, e.ALPN, e.PeerCN
			c.ConnectedAt, c.ConnectSeq = formatTime(e.At), e.Seq
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b clientJSON) int { return cmp.Compare(a.ClientID, b.ClientID) })
	return out
}
