package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ErrInboxClosed is returned by Inbox.Next once the inbox is closed and
// every message it received before has been returned.
var ErrInboxClosed = errors.New("broker: inbox closed")

// Message is a message delivered to a broker-side subscription.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	From    string // client id of the publisher
}

// Inbox receives the messages of a broker-side subscription, in order. It
// never blocks the publisher.
type Inbox struct {
	b      *Broker
	filter string
	id     int

	mu      sync.Mutex // guards msgs, changed, closed
	msgs    []Message
	changed chan struct{}
	closed  bool
}

// Subscribe subscribes the broker itself (mochi's inline client) to filter.
func (b *Broker) Subscribe(filter string) (*Inbox, error) {
	in := &Inbox{b: b, filter: filter, id: int(b.nextSub.Add(1)), changed: make(chan struct{})}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("broker: subscribe: closed")
	}
	if err := in.subscribe(b.srv); err != nil {
		return nil, err
	}
	b.inboxes[in] = struct{}{}
	return in, nil
}

func (in *Inbox) subscribe(srv *mqtt.Server) error {
	err := srv.Subscribe(in.filter, in.id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		in.push(Message{Topic: pk.TopicName, Payload: bytes.Clone(pk.Payload), QoS: pk.FixedHeader.Qos, Retain: pk.FixedHeader.Retain, From: pk.Origin})
	})
	if err != nil {
		return fmt.Errorf("broker: subscribe to %q: %w", in.filter, err)
	}
	return nil
}

func (in *Inbox) push(m Message) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	in.msgs = append(in.msgs, m)
	close(in.changed)
	in.changed = make(chan struct{})
}

// Next returns the next message, waiting until ctx ends.
func (in *Inbox) Next(ctx context.Context) (Message, error) {
	for {
		in.mu.Lock()
		if len(in.msgs) > 0 {
			m := in.msgs[0]
			in.msgs = in.msgs[1:]
			in.mu.Unlock()
			return m, nil
		}
		closed, changed := in.closed, in.changed
		in.mu.Unlock()
		if closed {
			return Message{}, ErrInboxClosed
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("broker: waiting for a message on %q: %w", in.filter, ctx.Err())
		}
	}
}

// Close unsubscribes. Next still returns the messages received before, in
// order, then fails with ErrInboxClosed.
func (in *Inbox) Close() {
	b := in.b
	b.mu.Lock()
	if _, ok := b.inboxes[in]; ok {
		delete(b.inboxes, in)
		_ = b.srv.Unsubscribe(in.filter, in.id)
	}
	b.mu.Unlock()
	in.close()
}

func (in *Inbox) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.closed {
		in.closed = true
		close(in.changed)
	}
}
