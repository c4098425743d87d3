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
// them.
type clientTracker struct {
	mu       sync.Mutex              // guards connects
	connects map[string]broker.Event // by client id
}

func newClientTracker() *clientTracker {
	return &clientTracker{connects: make(map[string]broker.Event)}
}

// note takes in an event as the recorder gives it.
func (t *clientTracker) note(e broker.Event) {
	if e.Kind != broker.KindConnect {
		return
	}
	t.mu.Lock()
	t.connects[e.ClientID] = e
	t.mu.Unlock()
}

// list returns the clients connected to srv, by client id, and forgets the
// CONNECTs of client ids mochi no longer knows.
func (t *clientTracker) list(srv *mqtt.Server) []clientJSON {
	all := srv.Clients.GetAll()
	t.mu.Lock()
	defer t.mu.Unlock()
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
