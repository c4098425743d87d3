package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Client is an MQTT 3.1.1 device client for AWS IoT Core, the counterpart of
// AWSIoTPythonSDK's AWSIoTMQTTClient. Create it with New; it is safe for
// concurrent use.
//
// One goroutine owns the connection: it connects, notices a loss, waits out
// the back-off, reconnects, renews subscriptions and drains the offline
// queue. Requests made while the client is not stable wait in the offline
// queue, in order, and nothing leaves the queue until a live connection has
// taken it (for QoS 1, until the PUBACK).
type Client struct {
	cfg           Config
	tls           *tls.Config
	presign       *presigner // WebSocket only
	log           *slog.Logger
	drainInterval time.Duration
	s             *session
	timers        timerPool
}

// New validates cfg, loads its credentials, and returns a client that is
// not yet connected. Errors name the bad setting (see ConfigError).
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t, err := cfg.buildTLS()
	if err != nil {
		return nil, err
	}
	var presign *presigner
	if cfg.UseWebsocket {
		presign = newPresigner(&cfg)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	limit := cfg.OfflineQueueLimit // the outbox's terms: < 0 disabled, 0 no bound
	if cfg.DisableOfflineQueue {
		limit = -1
	}
	return &Client{
		cfg:           cfg,
		tls:           t,
		presign:       presign,
		log:           log,
		drainInterval: cfg.drainInterval(),
		s: &session{
			log:         log,
			opTimeout:   cfg.OperationTimeout,
			rejectAfter: max(cfg.RejectAfterCloses, 0),
			changed:     make(chan struct{}),
			out:         outbox{limit: limit, drop: cfg.OfflineQueueDrop},
		},
	}, nil
}

// QueuedRequests returns how many requests wait in the offline queue.
func (c *Client) QueuedRequests() int {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.out.queued
}

// Connect connects to the broker and starts the connection owner, which
// keeps the client connected until Disconnect. The attempt (dial, TLS
// handshake, CONNACK) is bounded by the connect/disconnect timeout and ctx.
// A refused CONNACK is a *ConnectError. Unless Config.RetryFirstConnect is
// set, a failed first attempt is returned at once and the client stays idle.
func (c *Client) Connect(ctx context.Context) error {
	r, err := c.start(nil)
	if err != nil {
		return err
	}
	select {
	case err := <-r.first:
		if err != nil {
			<-r.done
		}
		return err
	case <-ctx.Done():
		r.cancel()
		<-r.done
		return ctxError(ctx, "connecting to "+c.endpoint())
	}
}

// ConnectAsync starts connecting and returns at once. ackCallback, if not
// nil, receives the result of the connection (nil, or why it failed).
func (c *Client) ConnectAsync(ackCallback func(error)) error {
	_, err := c.start(ackCallback)
	return err
}

func (c *Client) start(onFirst func(error)) (*run, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.status == StatusStopping:
		return nil, ErrDisconnecting
	case s.run != nil:
		return nil, ErrAlreadyConnected
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.disp = startDispatcher(c.log, s.disp)
	r := &run{cancel: cancel, disp: s.disp, done: make(chan struct{}), first: make(chan error, 1), onFirst: onFirst}
	s.run = r
	s.setStatus(StatusConnecting)
	go c.own(ctx, r)
	return r, nil
}

// Disconnect sends DISCONNECT if connected, stops the connection owner
// (no more reconnects) and returns once it has stopped, bounded by the
// connect/disconnect timeout and ctx. Offline, it returns at once. Requests
// still queued or unacknowledged stay queued for the next Connect.
// Callbacks already queued (including OnOffline) still run afterwards.
// Before Connect, or once stopped, it returns ErrNotConnected; called again
// while the client stops, it waits for the same stop.
func (c *Client) Disconnect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectDisconnectTimeout)
	defer cancel()
	r := c.stop(nil)
	if r == nil {
		return ErrNotConnected
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctxError(ctx, "disconnecting")
	}
}

// DisconnectAsync starts disconnecting and returns at once. ackCallback, if
// not nil, is called exactly once: on the dispatcher once the client has
// stopped, or, before Connect or once stopped, with ErrNotConnected before
// DisconnectAsync returns it.
func (c *Client) DisconnectAsync(ackCallback func(error)) error {
	if c.stop(ackCallback) == nil {
		if ackCallback != nil {
			ackCallback(ErrNotConnected)
		}
		return ErrNotConnected
	}
	return nil
}

// stop makes the client stop: no new requests, Flush calls woken, the run
// cancelled. It returns the run, or nil if there is none.
func (c *Client) stop(onStopped func(error)) *run {
	s := c.s
	s.mu.Lock()
	r := s.run
	if r == nil {
		s.mu.Unlock()
		return nil
	}
	if onStopped != nil {
		r.onStopped = append(r.onStopped, onStopped)
	}
	s.setStatus(StatusStopping)
	s.wakeFlushers(s.pendingError())
	s.mu.Unlock()
	r.cancel()
	return r
}

// Flush waits until every request accepted before it was called has
// completed: queued ones drained and acknowledged, those in flight
// acknowledged (QoS 0: written); requests made meanwhile are not waited
// for. It returns ErrNotConnected if such requests wait and the client is
// not connected or connecting (or stops being so), and stops when ctx ends.
func (c *Client) Flush(ctx context.Context) error {
	s := c.s
	s.mu.Lock()
	if s.out.doneUpTo(s.out.seq) {
		s.mu.Unlock()
		return nil
	}
	if s.accepting() != nil {
		defer s.mu.Unlock()
		return s.pendingError()
	}
	f := flusher{seq: s.out.seq, done: make(chan error, 1)}
	s.flushers = append(s.flushers, f)
	s.mu.Unlock()
	select {
	case err := <-f.done:
		return err
	case <-ctx.Done():
		return ctxError(ctx, "flushing")
	}
}

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
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("client: %s %q not sent: %w", k, topic, err)
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
	if a.link == nil {
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
