package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Kind is the type of a recorded event.
type Kind int

const (
	// KindAccept is a TCP connection accepted by a proxy (Remote is the
	// client's address).
	KindAccept Kind = iota + 1
	// KindTLSFailure is a TLS handshake the broker refused or lost (Cause
	// says why).
	KindTLSFailure
	// KindConnect is a CONNECT packet received.
	KindConnect
	// KindConnack is a CONNACK sent (ReturnCode, SessionPresent).
	KindConnack
	// KindSubscribe is a SUBSCRIBE received (Filters).
	KindSubscribe
	// KindSuback is a SUBACK sent (ReturnCodes).
	KindSuback
	// KindUnsubscribe is an UNSUBSCRIBE received (Filters hold the
	// filters).
	KindUnsubscribe
	// KindUnsuback is an UNSUBACK sent.
	KindUnsuback
	// KindPublish is a PUBLISH received from a client.
	KindPublish
	// KindPuback is a PUBACK sent to a client (PacketID).
	KindPuback
	// KindDeliver is a PUBLISH sent to a client.
	KindDeliver
	// KindDeliveryAck is a PUBACK received from a client for a delivery
	// (PacketID).
	KindDeliveryAck
	// KindPingreq is a PINGREQ received.
	KindPingreq
	// KindDisconnect is the end of a client's session; Cause is empty for a
	// clean MQTT DISCONNECT and otherwise says what ended it.
	KindDisconnect
	// KindUpgrade is a WebSocket upgrade request (Detail: the request URI;
	// HTTPStatus: 101, or 403 with Cause for a refused signature).
	KindUpgrade
	// KindFault is a fault applied by the harness, or applied to one packet
	// (then ClientID, Topic and PacketID say which); Detail says what.
	KindFault
)

var kindNames = map[Kind]string{
	KindAccept: "ACCEPT", KindTLSFailure: "TLS-FAILURE", KindConnect: "CONNECT", KindConnack: "CONNACK",
	KindSubscribe: "SUBSCRIBE", KindSuback: "SUBACK", KindUnsubscribe: "UNSUBSCRIBE", KindUnsuback: "UNSUBACK",
	KindPublish: "PUBLISH", KindPuback: "PUBACK", KindDeliver: "DELIVER", KindDeliveryAck: "DELIVERY-ACK", KindPingreq: "PINGREQ",
	KindDisconnect: "DISCONNECT", KindUpgrade: "UPGRADE", KindFault: "FAULT",
}

// String names the kind.
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// TopicFilter is one topic filter of a SUBSCRIBE or UNSUBSCRIBE.
type TopicFilter struct {
	Filter string
	QoS    byte
}

// Event is one thing the broker saw. Only the fields that belong to its Kind
// are set.
type Event struct {
	Seq      uint64    // 1, 2, 3… in recording order
	At       time.Time // when it was seen (carries a monotonic reading)
	Kind     Kind
	ClientID string
	Remote   string // the client's address as the proxy saw it, when known
	Listener string // "mtls", "tcp", or a proxy's name

	// CONNECT
	Keepalive    uint16
	CleanSession bool
	Username     string
	ServerName   string // TLS SNI
	ALPN         string // negotiated TLS application protocol
	PeerCN       string // common name of the client certificate

	// CONNACK, SUBACK
	ReturnCode     byte
	SessionPresent bool
	ReturnCodes    []byte

	// SUBSCRIBE, UNSUBSCRIBE
	Filters []TopicFilter

	// PUBLISH, DELIVER, PUBACK
	Topic    string
	Payload  []byte
	QoS      byte
	Dup      bool
	Retain   bool
	PacketID uint16

	// UPGRADE
	HTTPStatus int

	// TLS-FAILURE, DISCONNECT, UPGRADE, FAULT
	Cause  string
	Detail string
}

// String renders the event on one line, for logs and failure messages.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %s", e.Seq, e.At.Format("15:04:05.000000"), e.Kind)
	if e.ClientID != "" {
		fmt.Fprintf(&b, " client=%s", e.ClientID)
	}
	switch e.Kind {
	case KindAccept:
		fmt.Fprintf(&b, " remote=%s %s", e.Remote, e.Detail)
	case KindConnect:
		fmt.Fprintf(&b, " keepalive=%d clean=%v username=%q sni=%q alpn=%q cn=%q", e.Keepalive, e.CleanSession, e.Username, e.ServerName, e.ALPN, e.PeerCN)
	case KindConnack:
		fmt.Fprintf(&b, " rc=%d present=%v", e.ReturnCode, e.SessionPresent)
	case KindSubscribe, KindUnsubscribe:
		fmt.Fprintf(&b, " %v", e.Filters)
	case KindSuback:
		fmt.Fprintf(&b, " codes=%v", e.ReturnCodes)
	case KindPublish, KindDeliver:
		fmt.Fprintf(&b, " topic=%s qos=%d dup=%v id=%d payload=%q", e.Topic, e.QoS, e.Dup, e.PacketID, truncate(e.Payload, 40))
	case KindPuback, KindDeliveryAck:
		fmt.Fprintf(&b, " id=%d", e.PacketID)
	case KindTLSFailure, KindDisconnect:
		fmt.Fprintf(&b, " cause=%q", e.Cause)
	case KindUpgrade:
		fmt.Fprintf(&b, " status=%d %s", e.HTTPStatus, truncate([]byte(e.Detail), 60))
		if e.Cause != "" {
			fmt.Fprintf(&b, " cause=%q", e.Cause)
		}
	case KindFault:
		if e.Topic != "" {
			fmt.Fprintf(&b, " topic=%s id=%d", e.Topic, e.PacketID)
		}
		fmt.Fprintf(&b, " %s", e.Detail)
	}
	if e.Listener != "" {
		fmt.Fprintf(&b, " [%s]", e.Listener)
	}
	return b.String()
}

func truncate(p []byte, n int) string {
	if len(p) <= n {
		return string(p)
	}
	return string(p[:n]) + "…"
}

// Match selects events. Zero fields match anything.
type Match struct {
	Kind     Kind
	ClientID string
	Topic    string
	// After matches only events recorded after the event with this sequence
	// number (see Recorder.Seq), so a test can wait for what happens next.
	After uint64
	// Where, if set, must also return true.
	Where func(Event) bool
}

func (m Match) matches(e Event) bool {
	return (m.Kind == 0 || e.Kind == m.Kind) &&
		(m.ClientID == "" || e.ClientID == m.ClientID) &&
		(m.Topic == "" || e.Topic == m.Topic) &&
		e.Seq > m.After &&
		(m.Where == nil || m.Where(e))
}

func (m Match) String() string {
	var parts []string
	if m.Kind != 0 {
		parts = append(parts, m.Kind.String())
	}
	if m.ClientID != "" {
		parts = append(parts, "client="+m.ClientID)
	}
	if m.Topic != "" {
		parts = append(parts, "topic="+m.Topic)
	}
	if m.After != 0 {
		parts = append(parts, fmt.Sprintf("after=#%d", m.After))
	}
	if m.Where != nil {
		parts = append(parts, "where=func")
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// Recorder keeps every event in order, with its time, and lets tests wait for
// events instead of sleeping. It is safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex // guards events and changed
	events  []Event
	changed chan struct{} // closed and replaced on every add
}

// NewRecorder returns an empty recorder.
func NewRecorder() *Recorder {
	return &Recorder{changed: make(chan struct{})}
}

func (r *Recorder) add(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	r.mu.Lock()
	e.Seq = uint64(len(r.events)) + 1
	r.events = append(r.events, e)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Seq returns the sequence number of the latest event (0 if none). Use it
// as Match.After to wait only for what happens from now on.
func (r *Recorder) Seq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return uint64(len(r.events))
}

// Events returns a copy of the events that match m, in order.
func (r *Recorder) Events(m Match) []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.findLocked(m, 0)
}

// Count returns how many events match m.
func (r *Recorder) Count(m Match) int { return len(r.Events(m)) }

func (r *Recorder) findLocked(m Match, limit int) []Event {
	var out []Event
	start := 0
	if m.After > 0 {
		start = min(int(m.After), len(r.events))
	}
	for _, e := range r.events[start:] {
		if m.matches(e) {
			out = append(out, e)
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out
}

// WaitFor returns the first event that matches m, waiting for it until ctx
// ends.
func (r *Recorder) WaitFor(ctx context.Context, m Match) (Event, error) {
	evs, err := r.WaitForN(ctx, 1, m)
	if err != nil {
		return Event{}, err
	}
	return evs[0], nil
}

// WaitForN returns the first n events that match m, waiting for them until
// ctx ends. On timeout the error lists what was seen.
func (r *Recorder) WaitForN(ctx context.Context, n int, m Match) ([]Event, error) {
	for {
		r.mu.Lock()
		found := r.findLocked(m, n)
		changed := r.changed
		r.mu.Unlock()
		if len(found) >= n {
			return found, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return found, fmt.Errorf("broker: waiting for %d event(s) matching %v: saw %d: %w\n%s",
				n, m, len(found), ctx.Err(), r.tail(20))
		}
	}
}

// tail renders the last n events, for failure messages.
func (r *Recorder) tail(n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	start := max(0, len(r.events)-n)
	var b strings.Builder
	fmt.Fprintf(&b, "last %d of %d events:\n", len(r.events)-start, len(r.events))
	for _, e := range r.events[start:] {
		b.WriteString("  " + e.String() + "\n")
	}
	return b.String()
}
