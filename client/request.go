package client

import (
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// reqKind is what a request asks of the broker.
type reqKind uint8

const (
	kindPublish reqKind = iota + 1
	kindSubscribe
	kindUnsubscribe
	// kindRenew renews confirmed subscriptions after a reconnect: one
	// SUBSCRIBE with several filters, made by the client itself and never
	// queued.
	kindRenew
)

func (k reqKind) String() string {
	switch k {
	case kindPublish:
		return "publish"
	case kindSubscribe:
		return "subscribe"
	case kindUnsubscribe:
		return "unsubscribe"
	default:
		return "subscription renewal"
	}
}

// reqState is where a request is in its life.
type reqState uint8

const (
	stateQueued   reqState = iota + 1 // waiting for a live connection
	stateInflight                     // given to a connection (link), not yet finished
	stateFinished                     // acknowledged, refused, dropped or rejected: gone
)

// result is what a synchronous caller learns about its request.
type result struct {
	outcome Outcome
	err     error
}

// request is one publish, subscribe or unsubscribe, from acceptance until it
// is finished. Requests live in the outbox in acceptance order; the session
// owns their state (its mutex guards state, link, seq, closes and stored).
type request struct {
	kind  reqKind
	qos   QoS
	state reqState
	link  *link  // the connection it is in flight on
	seq   uint64 // acceptance order (Flush waits for a prefix)
	topic string // topic, or filter
	// payload is the publish payload: the caller's (PublishAsync), or buf's.
	payload []byte
	// buf, if set, is a pooled copy of the payload that the request owns
	// (Publish), returned to the pool when the request is finished.
	buf *payloadBuf
	// handler is a subscribe request's message callback.
	handler MessageHandler
	// onAck, if set, is called on the dispatcher with the final result.
	onAck func(error)
	// done, for synchronous calls, receives the first result: the
	// acknowledgement, or Queued when the request went back to the queue.
	done chan result
	// closes counts the connections the broker closed while this request was
	// the oldest one waiting for its acknowledgement (see rejectIfPoison).
	closes int
	// stored: its record is in the offline queue's directory (diskQueue).
	stored bool

	// Set by the link (its mutex guards them).
	sentOn *link     // the link that handed it to paho last
	sentAt time.Time // when

	// Renewals only.
	filters map[string]byte // filter → QoS
	codes   map[string]byte // the SUBACK's return codes, set before it finishes

	prev, next *request // outbox order
}

// newPublish validates a publish and makes its request; with copied, the
// request holds a pooled copy of payload.
func (c *Client) newPublish(topic string, payload []byte, qos QoS, onAck func(error), copied bool) (*request, error) {
	if err := c.cfg.checkTopicName(topic); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidTopic, topic, err)
	}
	if qos > QoS1 {
		return nil, fmt.Errorf("%w: got %d", ErrInvalidQoS, qos)
	}
	if len(payload) > c.cfg.MaxPayloadSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d (Config.MaxPayloadSize)", ErrPayloadTooLarge, len(payload), c.cfg.MaxPayloadSize)
	}
	r := &request{kind: kindPublish, topic: topic, payload: payload, qos: qos, onAck: onAck}
	if copied {
		r.buf = copyPayload(payload)
		r.payload = r.buf.b
	}
	return r, nil
}

func (c *Client) newSubscribe(filter string, qos QoS, onAck func(error), handler MessageHandler) (*request, error) {
	if err := c.cfg.checkTopicFilter(filter); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidTopic, filter, err)
	}
	if qos > QoS1 {
		return nil, fmt.Errorf("%w: got %d", ErrInvalidQoS, qos)
	}
	return &request{kind: kindSubscribe, topic: filter, qos: qos, onAck: onAck, handler: handler}, nil
}

func (c *Client) newUnsubscribe(filter string, onAck func(error)) (*request, error) {
	if err := c.cfg.checkTopicFilter(filter); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidTopic, filter, err)
	}
	return &request{kind: kindUnsubscribe, topic: filter, onAck: onAck}, nil
}

// newRenewal makes the request that renews filters on a new connection.
func newRenewal(filters map[string]byte) *request {
	return &request{kind: kindRenew, filters: filters, done: make(chan result, 1)}
}

// expectsAck says whether the broker answers the request (PUBACK, SUBACK,
// UNSUBACK); a QoS 0 publish is finished once written.
func (r *request) expectsAck() bool { return r.kind != kindPublish || r.qos > QoS0 }

// sendVia hands the request to paho and returns paho's token. The caller
// holds l.sendMu.
func (r *request) sendVia(pc paho.Client) paho.Token {
	switch r.kind {
	case kindPublish:
		return pc.Publish(r.topic, byte(r.qos), false, r.payload)
	case kindSubscribe:
		return pc.Subscribe(r.topic, byte(r.qos), nil)
	case kindUnsubscribe:
		return pc.Unsubscribe(r.topic)
	default:
		return pc.SubscribeMultiple(r.filters, nil)
	}
}

// report gives a synchronous caller its result, unless it has one already.
func (r *request) report(outcome Outcome, err error) {
	if r.done == nil {
		return
	}
	select {
	case r.done <- result{outcome, err}:
	default:
	}
}

// subackCode returns the return code of a one-filter SUBSCRIBE. (paho keys
// it by the filter without a "$share/group/" prefix, so it is not looked
// up by name.)
func subackCode(tok paho.Token) byte {
	for _, code := range tok.(*paho.SubscribeToken).Result() {
		return code
	}
	return 0x80
}
