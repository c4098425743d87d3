package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Status is where the client is in its connection life.
type Status int

const (
	// StatusIdle: not connected and not trying (before Connect, after
	// Disconnect, or after a failed first Connect).
	StatusIdle Status = iota
	// StatusConnecting: connecting, or waiting out the back-off before the
	// next attempt. Requests are queued.
	StatusConnecting
	// StatusRecovering: connected, renewing subscriptions and draining the
	// offline queue. New requests join the queue's tail.
	StatusRecovering
	// StatusStable: connected with nothing queued. Requests go straight out.
	StatusStable
)

// String names the status.
func (s Status) String() string {
	switch s {
	case StatusIdle:
		return "idle"
	case StatusConnecting:
		return "connecting"
	case StatusRecovering:
		return "recovering"
	case StatusStable:
		return "stable"
	default:
		return fmt.Sprintf("Status(%d)", int(s))
	}
}

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

	mu       sync.Mutex // guards the fields below
	status   Status
	link     *link // the live connection, or nil
	gen      uint32
	out      outbox
	subs     subscriptions
	run      *run        // the current Connect…Disconnect, or nil
	disp     *dispatcher // the latest run's dispatcher (callbacks stay ordered across runs)
	flushers []flusher   // Flush calls waiting
}

// flusher is a Flush call waiting for the requests accepted up to seq.
type flusher struct {
	seq  uint64
	done chan error // buffered 1
}

// run is one Connect…Disconnect span: its owner goroutine and dispatcher.
type run struct {
	cancel context.CancelFunc
	disp   *dispatcher
	done   chan struct{} // closed when the owner goroutine and its watchers have exited
	wg     sync.WaitGroup

	firstOnce sync.Once
	first     chan error  // the first connection attempt's result, buffered 1
	onFirst   func(error) // ConnectAsync's ack callback
	onStopped []func(error)
}

// New validates cfg, loads its credentials, and returns a client that is
// not yet connected. Errors name the bad setting (see ConfigError).
func New(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	t, err := cfg.buildTLS()
	if err != nil {
		return nil, err
	}
	var presign *presigner
	if cfg.UseWebsocket {
		if presign, err = newPresigner(&cfg); err != nil {
			return nil, err
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	limit := cfg.OfflineQueueSize
	if limit < 0 {
		limit = QueueInfinite
	}
	return &Client{
		cfg:           cfg,
		tls:           t,
		presign:       presign,
		log:           log,
		drainInterval: cfg.drainInterval(),
		out:           outbox{limit: limit, drop: cfg.DropBehavior},
	}, nil
}

// Status returns the client's connection status.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// QueuedRequests returns how many requests wait in the offline queue.
func (c *Client) QueuedRequests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.queued
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.run != nil && c.status == StatusIdle {
		return nil, fmt.Errorf("%w: still disconnecting (wait for Disconnect, or DisconnectAsync's callback)", ErrAlreadyConnected)
	}
	if c.run != nil {
		return nil, ErrAlreadyConnected
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.disp = startDispatcher(c.log, c.disp)
	r := &run{cancel: cancel, disp: c.disp, done: make(chan struct{}), first: make(chan error, 1), onFirst: onFirst}
	c.run = r
	c.status = StatusConnecting
	go c.own(ctx, r)
	return r, nil
}

// Disconnect sends DISCONNECT if connected, stops the connection owner
// (no more reconnects) and returns once it has stopped, bounded by the
// connect/disconnect timeout and ctx. Offline, it returns at once. Requests
// still queued or unacknowledged stay queued for the next Connect.
// Callbacks already queued (including OnOffline) still run afterwards.
func (c *Client) Disconnect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectDisconnectTimeout)
	defer cancel()
	c.mu.Lock()
	r := c.run
	c.mu.Unlock()
	if r == nil {
		return ErrNotConnected
	}
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return ctxError(ctx, "disconnecting")
	}
}

// DisconnectAsync starts disconnecting and returns at once; ackCallback, if
// not nil, is called once the client has stopped.
func (c *Client) DisconnectAsync(ackCallback func(error)) error {
	c.mu.Lock()
	r := c.run
	if r != nil && ackCallback != nil {
		r.onStopped = append(r.onStopped, ackCallback)
	}
	c.mu.Unlock()
	if r == nil {
		return ErrNotConnected
	}
	r.cancel()
	return nil
}

// Flush waits until every request accepted before it was called has
// completed: queued ones drained and acknowledged, those in flight
// acknowledged (QoS 0: handed to the connection); requests made meanwhile
// are not waited for. It returns ErrNotConnected if such requests wait and
// the client is not connected or connecting (or stops being so), and stops
// when ctx ends.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	if c.out.doneUpTo(c.out.seq) {
		c.mu.Unlock()
		return nil
	}
	if c.run == nil || c.status == StatusIdle {
		defer c.mu.Unlock()
		return c.pendingError()
	}
	f := flusher{seq: c.out.seq, done: make(chan error, 1)}
	c.flushers = append(c.flushers, f)
	c.mu.Unlock()
	select {
	case err := <-f.done:
		return err
	case <-ctx.Done():
		return ctxError(ctx, "flushing")
	}
}

// pendingError says that requests wait for the next Connect. c.mu must be
// held.
func (c *Client) pendingError() error {
	return fmt.Errorf("%w: %d request(s) wait for the next Connect", ErrNotConnected, c.out.queued+c.out.inflight)
}

// notifyFlushers wakes the Flush calls whose requests have all completed,
// or all of them with err if err is not nil. c.mu must be held.
func (c *Client) notifyFlushers(err error) {
	kept := c.flushers[:0]
	for _, f := range c.flushers {
		switch {
		case c.out.doneUpTo(f.seq):
			f.done <- nil
		case err != nil:
			f.done <- err
		default:
			kept = append(kept, f)
		}
	}
	clear(c.flushers[len(kept):])
	c.flushers = kept
}

// Publish publishes payload to topic and, when the request goes straight
// out, waits for the PUBACK (QoS1) or the write (QoS0), bounded by the
// operation timeout and ctx. Offline it returns Queued (or
// QueuedDroppedOldest) at once. The payload is copied: the caller may reuse
// its buffer when Publish returns. Invalid topics, QoS 2 and oversize
// payloads are refused before anything is queued.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte, qos QoS) (Outcome, error) {
	r, err := c.newPublish(topic, payload, qos, nil, true)
	if err != nil {
		return 0, err
	}
	return c.do(ctx, r)
}

// PublishAsync publishes without waiting. ackCallback, if not nil, receives
// the result once the request completes (QoS1: PUBACK; QoS0: handed to a live
// connection), even if it went through the offline queue; ErrDropped if
// DropOldest dropped it.
//
// PublishAsync takes payload as it is, without copying (as paho does): the
// caller must not modify it afterwards. Build a fresh slice per message, as
// json.Marshal does.
func (c *Client) PublishAsync(topic string, payload []byte, qos QoS, ackCallback func(error)) (Outcome, error) {
	r, err := c.newPublish(topic, payload, qos, ackCallback, false)
	if err != nil {
		return 0, err
	}
	return c.doAsync(r)
}

// Subscribe subscribes to a topic filter and waits for the SUBACK, bounded
// by the operation timeout and ctx. callback receives the filter's messages
// (it may be nil: OnMessage still sees them). A refused filter is a
// *SubscribeError and is not renewed on reconnect. The subscription is
// renewed after every reconnect.
func (c *Client) Subscribe(ctx context.Context, topic string, qos QoS, callback MessageHandler) (Outcome, error) {
	r, err := c.newSubscribe(topic, qos, nil, callback)
	if err != nil {
		return 0, err
	}
	return c.do(ctx, r)
}

// SubscribeAsync subscribes without waiting. ackCallback, if not nil,
// receives the SUBACK's result; messageCallback receives the messages.
func (c *Client) SubscribeAsync(topic string, qos QoS, ackCallback func(error), messageCallback MessageHandler) (Outcome, error) {
	r, err := c.newSubscribe(topic, qos, ackCallback, messageCallback)
	if err != nil {
		return 0, err
	}
	return c.doAsync(r)
}

// Unsubscribe removes a subscription and waits for the UNSUBACK, bounded by
// the operation timeout and ctx. Messages for the filter stop being
// delivered when the UNSUBSCRIBE is sent.
func (c *Client) Unsubscribe(ctx context.Context, topic string) (Outcome, error) {
	r, err := c.newUnsubscribe(topic, nil)
	if err != nil {
		return 0, err
	}
	return c.do(ctx, r)
}

// UnsubscribeAsync unsubscribes without waiting. ackCallback, if not nil,
// receives the UNSUBACK's result.
func (c *Client) UnsubscribeAsync(topic string, ackCallback func(error)) (Outcome, error) {
	r, err := c.newUnsubscribe(topic, ackCallback)
	if err != nil {
		return 0, err
	}
	return c.doAsync(r)
}

// newPublish validates a publish and makes its request; with copied, the
// request holds a pooled copy of payload.
func (c *Client) newPublish(topic string, payload []byte, qos QoS, onAck func(error), copied bool) (*request, error) {
	if err := validateTopicName(topic); err != nil {
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
	if err := validateTopicFilter(filter); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidTopic, filter, err)
	}
	if qos > QoS1 {
		return nil, fmt.Errorf("%w: got %d", ErrInvalidQoS, qos)
	}
	return &request{kind: kindSubscribe, topic: filter, qos: qos, onAck: onAck, handler: handler}, nil
}

func (c *Client) newUnsubscribe(filter string, onAck func(error)) (*request, error) {
	if err := validateTopicFilter(filter); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidTopic, filter, err)
	}
	return &request{kind: kindUnsubscribe, topic: filter, onAck: onAck}, nil
}

// submit routes an accepted request: straight out on a stable connection
// with nothing queued (returning that connection), otherwise into the
// offline queue.
func (c *Client) submit(r *request) (Outcome, *link, error) {
	c.mu.Lock()
	if c.run == nil || c.status == StatusIdle { // not started, or disconnecting
		c.mu.Unlock()
		releasePayload(r.buf)
		return 0, nil, ErrNotConnected
	}
	if c.status == StatusStable && c.out.queued == 0 {
		l := c.link
		c.out.sendDirect(r, l.gen)
		c.beforeSend(r)
		c.mu.Unlock()
		return Sent, l, nil
	}
	outcome, dropped, err := c.out.enqueue(r)
	if dropped != nil && dropped.onAck != nil {
		// Queued under the lock, so a Disconnect cannot close the
		// dispatcher in between. (The dropped payload is left to the
		// garbage collector: a writer on a closing connection may still
		// hold it.)
		c.run.disp.push(func() { dropped.onAck(ErrDropped) })
	}
	c.mu.Unlock()
	if err != nil {
		releasePayload(r.buf)
		return 0, nil, err
	}
	c.log.Debug("client: request queued", "kind", r.kind, "topic", r.topic, "outcome", outcome)
	return outcome, nil, nil
}

// do submits a request and, if it went straight out, waits for its
// acknowledgement.
func (c *Client) do(ctx context.Context, r *request) (Outcome, error) {
	outcome, l, err := c.submit(r)
	if outcome != Sent {
		return outcome, err
	}
	// The operation timeout applies unless ctx ends sooner, from before
	// paho takes the request (that may block too). (A recycled timer is
	// cheaper than a derived context on this path.)
	timeout := startTimer(c.cfg.OperationTimeout)
	defer recycleTimer(timeout)
	tok := l.send(r)
	select {
	case <-tok.Done():
		return c.settle(l, watchItem{r, tok})
	case <-l.lost:
		if isDone(tok) {
			return c.settle(l, watchItem{r, tok})
		}
		c.requeue(l, r)
		return c.outcomeOf(r)
	case <-ctx.Done():
	case <-timeout.C:
	}
	if !l.watch.push(r, tok) {
		c.settleOrRequeue(l, watchItem{r, tok})
	}
	what := fmt.Sprintf("waiting for the acknowledgement of %s %q", r.kind, r.topic)
	if ctx.Err() != nil {
		return 0, ctxError(ctx, what)
	}
	return 0, fmt.Errorf("%w %s (%v, ConfigureMQTTOperationTimeout)", ErrTimeout, what, c.cfg.OperationTimeout)
}

// doAsync submits a request and, if it went straight out, hands it to the
// connection's watcher (QoS 0 publishes: see handOver).
func (c *Client) doAsync(r *request) (Outcome, error) {
	outcome, l, err := c.submit(r)
	if outcome == Sent {
		tok := l.send(r)
		if r.kind == kindPublish && r.qos == QoS0 {
			return c.handOver(l, watchItem{r, tok})
		}
		if !l.watch.push(r, tok) {
			c.settleOrRequeue(l, watchItem{r, tok})
			return c.outcomeOf(r)
		}
	}
	return outcome, err
}

// handOver completes an asynchronous QoS 0 publish once paho has taken it:
// QoS 0 is at most once, so nothing waits for the write. If paho refused it
// at once (the connection is already gone), it goes back to the queue.
func (c *Client) handOver(l *link, it watchItem) (Outcome, error) {
	if isDone(it.tok) && it.tok.Error() != nil {
		c.settle(l, it) // requeues, and breaks the connection
		return c.outcomeOf(it.r)
	}
	c.mu.Lock()
	finished := c.out.finish(it.r, l.gen)
	if ack := it.r.onAck; finished && ack != nil {
		l.disp.push(func() { ack(nil) }) // under the lock: see submit
	}
	c.notifyFlushers(nil)
	c.mu.Unlock()
	if !finished {
		return c.outcomeOf(it.r)
	}
	return Sent, nil
}

// outcomeOf reports a request's outcome after its connection was lost.
func (c *Client) outcomeOf(r *request) (Outcome, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r.state {
	case stateDone:
		return Sent, nil
	case stateDropped:
		return 0, ErrDropped
	}
	return Queued, nil
}

// send hands a request to paho.
func (l *link) send(r *request) paho.Token {
	switch r.kind {
	case kindPublish:
		return l.paho.Publish(r.topic, byte(r.qos), false, r.payload)
	case kindSubscribe:
		return l.paho.Subscribe(r.topic, byte(r.qos), nil)
	default:
		return l.paho.Unsubscribe(r.topic)
	}
}

// beforeSend updates the routing table as a (un)subscribe goes out. c.mu
// must be held.
func (c *Client) beforeSend(r *request) {
	switch r.kind {
	case kindSubscribe:
		c.subs.sending(r.topic, r.qos, r.handler)
	case kindUnsubscribe:
		c.subs.unsubscribing(r.topic)
	}
}

// settle completes one request whose token has completed, and returns its
// outcome for a synchronous caller.
func (c *Client) settle(l *link, it watchItem) (Outcome, error) {
	items, results := [1]watchItem{it}, [1]settled{}
	c.settleBatch(l, items[:], results[:])
	if results[0].requeued {
		return c.outcomeOf(it.r)
	}
	return Sent, results[0].err
}

// settled is what became of one request in a batch.
type settled struct {
	err      error // the broker's refusal (SUBACK 0x80), if any
	requeued bool  // not finished: back in the queue, or settled elsewhere
}

// settleBatch completes requests whose tokens have completed, under one
// lock. A token error means the connection failed under the request: it
// goes back to the queue and the connection is broken so the owner
// reconnects. Ack callbacks are queued together, in order. results, as
// long as items, receives what became of each.
func (c *Client) settleBatch(l *link, items []watchItem, results []settled) {
	clear(results)
	failed := false
	for i, it := range items {
		if err := it.tok.Error(); err != nil {
			c.log.Debug("client: request failed on the connection; requeued", "kind", it.r.kind, "topic", it.r.topic, "error", err)
			results[i].requeued, failed = true, true
			continue
		}
		if it.r.kind == kindSubscribe {
			if code := subackCode(it.tok); code == 0x80 {
				results[i].err = &SubscribeError{Filter: it.r.topic, ReturnCode: code}
			}
		}
	}
	type ack struct {
		fn  func(error)
		err error
	}
	var acks []ack
	c.mu.Lock()
	for i, it := range items {
		r := it.r
		if results[i].requeued {
			c.out.requeue(r, l.gen)
			continue
		}
		if !c.out.finish(r, l.gen) {
			results[i].requeued = true
			continue
		}
		switch {
		case r.kind == kindSubscribe && results[i].err != nil:
			c.subs.delete(r.topic)
		case r.kind == kindSubscribe:
			c.subs.granted(r.topic)
		case r.kind == kindUnsubscribe:
			c.subs.deleteIfRemoving(r.topic)
		}
		if r.onAck != nil {
			acks = append(acks, ack{r.onAck, results[i].err})
		}
	}
	if len(acks) > 0 { // under the lock: see submit
		l.disp.push(func() {
			for _, a := range acks {
				a.fn(a.err)
			}
		})
	}
	c.notifyFlushers(nil)
	c.mu.Unlock()
	for i, it := range items {
		if !results[i].requeued {
			releasePayload(it.r.buf)
		}
	}
	if failed {
		l.breakConn()
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

// requeue puts a request that was in flight on l back in the queue.
func (c *Client) requeue(l *link, r *request) {
	c.mu.Lock()
	c.out.requeue(r, l.gen)
	c.mu.Unlock()
}

// onMessage routes a received message to the callbacks (paho's router
// goroutine; it only queues work, so acknowledgements are never delayed).
func (c *Client) onMessage(l *link, pm paho.Message) {
	m := Message{
		Topic:     pm.Topic(),
		Payload:   pm.Payload(),
		QoS:       QoS(pm.Qos()),
		Retain:    pm.Retained(),
		Duplicate: pm.Duplicate(),
		MessageID: pm.MessageID(),
	}
	c.mu.Lock()
	handlers := c.subs.handlers(m.Topic)
	c.mu.Unlock()
	onMessage := c.cfg.OnMessage
	l.disp.push(func() {
		for _, h := range handlers {
			h(m)
		}
		if onMessage != nil {
			onMessage(m)
		}
	})
}
