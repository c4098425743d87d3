package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Publish publishes payload to topic and, when the request goes straight
// out, waits for the PUBACK (QoS1) or the write (QoS0), bounded by the
// operation timeout and ctx; if the connection drops meanwhile the request
// goes back to the queue and Publish returns Queued. Offline it returns
// Queued (or QueuedDroppedOldest) at once. The payload is copied: the
// caller may reuse its buffer when Publish returns. Invalid topics, QoS 2,
// oversize payloads and an already ended ctx are refused before anything
// is queued.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte, qos QoS) (Outcome, error) {
	if err := refusedContext(ctx, kindPublish, topic); err != nil {
		return NotAccepted, err
	}
	r, err := c.newPublish(topic, payload, qos, nil, true)
	if err != nil {
		return NotAccepted, err
	}
	return c.call(ctx, r)
}

// PublishAsync publishes without waiting. ackCallback, if not nil, receives
// the result once the request completes (QoS1: PUBACK; QoS0: written),
// even if it went through the offline queue; ErrDropped if DropOldest
// dropped it. It never waits on the network.
//
// PublishAsync takes payload as it is, without copying (as paho does): the
// caller must not modify it afterwards. Build a fresh slice per message, as
// json.Marshal does.
func (c *Client) PublishAsync(topic string, payload []byte, qos QoS, ackCallback func(error)) (Outcome, error) {
	r, err := c.newPublish(topic, payload, qos, ackCallback, false)
	if err != nil {
		return NotAccepted, err
	}
	return c.callAsync(r)
}

// Subscribe subscribes to a topic filter and waits for the SUBACK, bounded
// by the operation timeout and ctx. callback receives the filter's messages
// (it may be nil: OnMessage still sees them). A refused filter is a
// *SubscribeError and is not renewed on reconnect. The subscription is
// renewed after every reconnect.
func (c *Client) Subscribe(ctx context.Context, topic string, qos QoS, callback MessageHandler) (Outcome, error) {
	if err := refusedContext(ctx, kindSubscribe, topic); err != nil {
		return NotAccepted, err
	}
	r, err := c.newSubscribe(topic, qos, nil, callback)
	if err != nil {
		return NotAccepted, err
	}
	return c.call(ctx, r)
}

// SubscribeAsync subscribes without waiting. ackCallback, if not nil,
// receives the SUBACK's result; messageCallback receives the messages.
func (c *Client) SubscribeAsync(topic string, qos QoS, ackCallback func(error), messageCallback MessageHandler) (Outcome, error) {
	r, err := c.newSubscribe(topic, qos, ackCallback, messageCallback)
	if err != nil {
		return NotAccepted, err
	}
	return c.callAsync(r)
}

// Unsubscribe removes a subscription and waits for the UNSUBACK, bounded by
// the operation timeout and ctx. Messages for the filter stop being
// delivered when the UNSUBSCRIBE is sent.
func (c *Client) Unsubscribe(ctx context.Context, topic string) (Outcome, error) {
	if err := refusedContext(ctx, kindUnsubscribe, topic); err != nil {
		return NotAccepted, err
	}
	r, err := c.newUnsubscribe(topic, nil)
	if err != nil {
		return NotAccepted, err
	}
	return c.call(ctx, r)
}

// UnsubscribeAsync unsubscribes without waiting. ackCallback, if not nil,
// receives the UNSUBACK's result.
func (c *Client) UnsubscribeAsync(topic string, ackCallback func(error)) (Outcome, error) {
	r, err := c.newUnsubscribe(topic, ackCallback)
	if err != nil {
		return NotAccepted, err
	}
	return c.callAsync(r)
}

// refusedContext refuses a request whose context has already ended: it is
// neither sent nor queued.
func refusedContext(ctx context.Context, k reqKind, topic string) error {
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%w: %s %q not sent, not queued (its context's deadline had passed)", ErrTimeout, k, topic)
	case err != nil:
		return fmt.Errorf("client: %s %q not sent, not queued: %w", k, topic, err)
	}
	return nil
}

// callAsync submits a request and returns at once.
func (c *Client) callAsync(r *request) (Outcome, error) {
	a, err := c.s.submit(r, false)
	return a.outcome, err
}

// call submits a request and waits for its result, bounded by the
// operation timeout and ctx: until it is answered, or goes back to the
// queue because its connection was lost. Queued while offline or
// recovering, it returns Queued at once. A publish with enough time left
// is handed to paho by the caller itself (no goroutine in between).
func (c *Client) call(ctx context.Context, r *request) (Outcome, error) {
	r.done = make(chan result, 1)
	direct := r.kind == kindPublish && c.cfg.OperationTimeout > handOffTimeout && hasTime(ctx, handOffTimeout)
	a, err := c.s.submit(r, direct)
	if a.link == nil || err != nil {
		return a.outcome, err
	}
	l := a.link
	if a.direct {
		if tok := l.handDirect(r); tok != nil && r.qos == QoS0 {
			return c.awaitWrite(ctx, r, l, tok)
		}
	}
	timeout := c.timers.start(c.cfg.OperationTimeout)
	defer c.timers.recycle(timeout)
	return c.awaitResult(ctx, r, l, timeout)
}

// awaitResult waits for the result of a request given to, or queued
// behind, the live connection l.
func (c *Client) awaitResult(ctx context.Context, r *request, l *link, timeout *time.Timer) (Outcome, error) {
	lost := l.lost
	for {
		select {
		case res := <-r.done:
			return res.outcome, res.err
		case <-lost:
			// Still queued behind the lost connection: it stays queued.
			// (In flight on it, it is requeued and reported through r.done.)
			if c.s.queued(r) {
				return Queued, nil
			}
			lost = nil
			continue
		case <-ctx.Done():
		case <-timeout.C:
		}
		return Pending, c.gaveUp(ctx, r)
	}
}

// awaitWrite waits for a QoS 0 publish the caller handed to paho to be
// written. No timer is needed: the connection's write-stall bound (the
// operation timeout) ends the write one way or the other, and a lost
// connection ends the wait.
func (c *Client) awaitWrite(ctx context.Context, r *request, l *link, tok paho.Token) (Outcome, error) {
	giveUp := false
	select {
	case <-tok.Done():
	case <-l.lost:
		giveUp = true
	case <-ctx.Done():
		giveUp = true
	}
	if l.settleDirect(r, tok, giveUp) {
		return Sent, nil
	}
	if ctx.Err() != nil {
		return Pending, c.gaveUp(ctx, r)
	}
	// Settled elsewhere (a failed write, or a lost connection): the result
	// comes through r.done.
	timeout := c.timers.start(c.cfg.OperationTimeout)
	defer c.timers.recycle(timeout)
	return c.awaitResult(ctx, r, l, timeout)
}

// gaveUp is the error of a synchronous call that stopped waiting.
func (c *Client) gaveUp(ctx context.Context, r *request) error {
	what := fmt.Sprintf("waiting for the acknowledgement of %s %q (it stays pending and will still be sent)", r.kind, r.topic)
	if ctx.Err() != nil {
		return ctxError(ctx, what)
	}
	return fmt.Errorf("%w %s (%v, ConfigureMQTTOperationTimeout)", ErrTimeout, what, c.cfg.OperationTimeout)
}

// hasTime reports whether ctx leaves more than d.
func hasTime(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}

// onMessage routes a received message to the callbacks (paho's router
// goroutine; it only queues work, so acknowledgements are never delayed).
// Each callback runs on its own: one that panics does not keep the message
// from the others.
func (c *Client) onMessage(pm paho.Message) {
	m := Message{
		Topic:     pm.Topic(),
		Payload:   pm.Payload(),
		QoS:       QoS(pm.Qos()),
		Retain:    pm.Retained(),
		Duplicate: pm.Duplicate(),
		MessageID: pm.MessageID(),
	}
	s := c.s
	s.mu.Lock()
	handlers := s.subs.handlers(m.Topic)
	disp := s.disp
	s.mu.Unlock()
	onMessage := c.cfg.OnMessage
	disp.push(func() {
		for _, h := range handlers {
			disp.call(func() { h(m) })
		}
		if onMessage != nil {
			disp.call(func() { onMessage(m) })
		}
	})
}
