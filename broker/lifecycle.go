package broker

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// Lifecycle event topics (AWS IoT Core, life-cycle-events.md); append the
// client id.
const (
	TopicConnected    = "$aws/events/presence/connected/"
	TopicDisconnected = "$aws/events/presence/disconnected/"
	TopicSubscribed   = "$aws/events/subscriptions/subscribed/"
	TopicUnsubscribed = "$aws/events/subscriptions/unsubscribed/"
)

// PresenceEvent is the payload of a connected or disconnected lifecycle
// event, with AWS's field names.
type PresenceEvent struct {
	ClientID                  string `json:"clientId"`
	Timestamp                 int64  `json:"timestamp"` // milliseconds since the epoch
	EventType                 string `json:"eventType"` // "connected" or "disconnected"
	SessionIdentifier         string `json:"sessionIdentifier"`
	PrincipalIdentifier       string `json:"principalIdentifier"`
	IPAddress                 string `json:"ipAddress,omitempty"`                 // connected only
	ClientInitiatedDisconnect *bool  `json:"clientInitiatedDisconnect,omitempty"` // disconnected only
	DisconnectReason          string `json:"disconnectReason,omitempty"`          // disconnected only
	VersionNumber             int64  `json:"versionNumber"`
}

// SubscriptionEvent is the payload of a subscribed or unsubscribed
// lifecycle event.
type SubscriptionEvent struct {
	ClientID            string   `json:"clientId"`
	Timestamp           int64    `json:"timestamp"`
	EventType           string   `json:"eventType"` // "subscribed" or "unsubscribed"
	SessionIdentifier   string   `json:"sessionIdentifier"`
	PrincipalIdentifier string   `json:"principalIdentifier"`
	Topics              []string `json:"topics"`
}

// lifecycle publishes AWS IoT Core's lifecycle events for one mochi server.
// The version number of a client id rises with each connection (a
// connection's connect and disconnect share it) and starts again at 0 once
// the client id has been away for resetAfter.
type lifecycle struct {
	on         bool
	srv        *mqtt.Server
	clientAddr func(string) string
	resetAfter time.Duration

	mu    sync.Mutex // guards ids, conns
	ids   map[string]*presence
	conns map[*mqtt.Client]connection
}

// presence is what lifecycle remembers of a client id.
type presence struct {
	version int64
	session string
	left    time.Time // when its last connection ended; zero while connected
}

// connection is one connection's identity in its events.
type connection struct {
	version            int64
	session, principal string
}

func newLifecycle(on bool, srv *mqtt.Server, clientAddr func(string) string, resetAfter time.Duration) *lifecycle {
	return &lifecycle{on: on, srv: srv, clientAddr: clientAddr, resetAfter: resetAfter,
		ids: make(map[string]*presence), conns: make(map[*mqtt.Client]connection)}
}

// connected publishes the connected event of a session just established.
func (lc *lifecycle) connected(cl *mqtt.Client) {
	if !lc.on || strings.ContainsAny(cl.ID, "#+") {
		return
	}
	now := time.Now()
	lc.mu.Lock()
	p := lc.ids[cl.ID]
	switch {
	case p == nil || (!p.left.IsZero() && now.Sub(p.left) >= lc.resetAfter):
		p = &presence{session: newSessionID()}
		lc.ids[cl.ID] = p
	default:
		p.version++
		if cl.Properties.Clean {
			p.session = newSessionID()
		}
	}
	p.left = time.Time{}
	c := connection{version: p.version, session: p.session, principal: principalOf(cl)}
	lc.conns[cl] = c
	lc.mu.Unlock()
	ip, _, err := net.SplitHostPort(lc.clientAddr(cl.Net.Remote))
	if err != nil {
		ip = ""
	}
	lc.publish(TopicConnected+cl.ID, PresenceEvent{ClientID: cl.ID, Timestamp: now.UnixMilli(), EventType: "connected",
		SessionIdentifier: c.session, PrincipalIdentifier: c.principal, IPAddress: ip, VersionNumber: c.version})
}

// disconnected publishes the disconnected event of a session that ended
// with cause.
func (lc *lifecycle) disconnected(cl *mqtt.Client, cause error) {
	now := time.Now()
	lc.mu.Lock()
	c, ok := lc.conns[cl]
	delete(lc.conns, cl)
	if p := lc.ids[cl.ID]; ok && p != nil && p.version == c.version {
		p.left = now
	}
	lc.mu.Unlock()
	if !ok {
		return
	}
	reason := disconnectReason(cause)
	byClient := reason == ReasonClientInitiated
	lc.publish(TopicDisconnected+cl.ID, PresenceEvent{ClientID: cl.ID, Timestamp: now.UnixMilli(), EventType: "disconnected",
		SessionIdentifier: c.session, PrincipalIdentifier: c.principal, ClientInitiatedDisconnect: &byClient,
		DisconnectReason: reason, VersionNumber: c.version})
}

// subscriptions publishes a subscribed or unsubscribed event.
func (lc *lifecycle) subscriptions(cl *mqtt.Client, eventType string, filters []string) {
	lc.mu.Lock()
	c, ok := lc.conns[cl]
	lc.mu.Unlock()
	if !ok || len(filters) == 0 {
		return
	}
	topic := TopicSubscribed
	if eventType == "unsubscribed" {
		topic = TopicUnsubscribed
	}
	lc.publish(topic+cl.ID, SubscriptionEvent{ClientID: cl.ID, Timestamp: time.Now().UnixMilli(), EventType: eventType,
		SessionIdentifier: c.session, PrincipalIdentifier: c.principal, Topics: filters})
}

func (lc *lifecycle) publish(topic string, event any) {
	payload, err := json.Marshal(event)
	if err != nil {
		return // the event types always marshal
	}
	// QoS 1, so a persistent subscriber that is offline gets it later.
	// A publish fails only if the server is closing.
	_ = lc.srv.Publish(topic, payload, false, 1)
}

// principalOf names who connected, as AWS's principalIdentifier does: the
// certificate id (SHA-256 of the certificate, hex) for mutual TLS, the
// access key id for SigV4, the user name for a custom authorizer.
func principalOf(cl *mqtt.Client) string {
	if tc, ok := tlsConn(cl); ok {
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			sum := sha256.Sum256(certs[0].Raw)
			return hex.EncodeToString(sum[:])
		}
	}
	if key := accessKeyOf(cl); key != "" {
		return key
	}
	return string(cl.Properties.Username)
}

// newSessionID returns 32 random hex digits.
func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
