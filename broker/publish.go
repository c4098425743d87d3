package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// ErrPublishBlocked is wrapped by Publish's error when its context ended
// before mochi had handed the message to every subscriber.
var ErrPublishBlocked = errors.New("broker: publish blocked")

// ErrDropped is wrapped by Publish's error when mochi dropped the message
// for at least one subscriber; each drop is also a DROPPED event.
var ErrDropped = errors.New("broker: message dropped")

// publisher runs the broker's own publishes one at a time, each on a
// goroutine of its own, and collects the drops of the one in progress.
type publisher struct {
	slot chan struct{}  // full while a publish is in progress
	wg   sync.WaitGroup // publish goroutines

	mu      sync.Mutex  // guards current
	current *publishing // nil between publishes
}

// publishing is one Publish in progress.
type publishing struct {
	topic string
	drops []string // guarded by publisher.mu
}

func newPublisher() *publisher { return &publisher{slot: make(chan struct{}, 1)} }

// dropped notes a subscriber's copy of a message the broker published that
// mochi dropped, if it belongs to the publish in progress.
func (p *publisher) dropped(topic, drop string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current != nil && p.current.topic == topic {
		p.current.drops = append(p.current.drops, drop)
	}
}

func (p *publisher) setCurrent(pub *publishing) {
	p.mu.Lock()
	p.current = pub
	p.mu.Unlock()
}

// dropsOf returns what was dropped of pub, which is no longer in progress.
func (p *publisher) dropsOf(pub *publishing) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return pub.drops
}

// Publish publishes a message from the broker itself (mochi's inline
// client) and returns once mochi has queued a copy for every matching
// subscriber, or dropped it.
//
// mochi queues the copies on the publishing goroutine and, for a QoS 1
// copy, takes the subscriber's client lock to number it (NextPacketID,
// clients.go:277), which that client's writer holds for as long as a write
// to it is stuck (WritePacket, clients.go:603-619): behind Blackhole, once
// the socket buffers are full. So Publish hands the message to mochi on a goroutine
// of its own and, if ctx ends first, returns an error wrapping
// ErrPublishBlocked and ctx's error. The message is then still published
// once the write gets through or the link closes; until then later Publish
// calls wait for it (and fail the same way when their ctx ends), so the
// broker's messages keep their order.
//
// A subscriber's copy that mochi drops (write queue full, in-flight limit,
// subscriber offline at QoS 0: see KindDropped) is recorded as a DROPPED
// event and makes Publish return an error wrapping ErrDropped. A copy lost
// later, when writing it fails, is recorded but does not change the result.
func (b *Broker) Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("broker: publish to %q: %w", topic, err)
	}
	select {
	case b.pub.slot <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: publish to %q is waiting for an earlier publish that is still blocked: %w", ErrPublishBlocked, topic, ctx.Err())
	}
	b.mu.Lock()
	srv, closed := b.srv, b.closed
	if !closed {
		b.pub.wg.Add(1)
	}
	b.mu.Unlock()
	if closed {
		<-b.pub.slot
		return fmt.Errorf("broker: publish to %q: closed", topic)
	}
	pub := &publishing{topic: topic}
	b.pub.setCurrent(pub)
	done := make(chan error, 1)
	go func() {
		defer b.pub.wg.Done()
		err := srv.Publish(topic, payload, retain, qos)
		b.pub.setCurrent(nil)
		<-b.pub.slot
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("broker: publish to %q: %w", topic, err)
		}
		if drops := b.pub.dropsOf(pub); len(drops) > 0 {
			return fmt.Errorf("%w: publish to %q: %s", ErrDropped, topic, strings.Join(drops, "; "))
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: publish to %q not handed to every subscriber before the context ended (a subscriber's connection is not taking writes): %w",
			ErrPublishBlocked, topic, ctx.Err())
	}
}
