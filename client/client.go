package client

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"time"
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
	if err := cfg.validateOfflineQueueDir(); err != nil {
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
	s := &session{
		log:         log,
		opTimeout:   cfg.OperationTimeout,
		rejectAfter: max(cfg.RejectAfterCloses, 0),
		changed:     make(chan struct{}),
		out:         outbox{limit: limit, drop: cfg.OfflineQueueDrop},
	}
	if cfg.OfflineQueueDir != "" {
		disk, restored, lastSeq, err := openDiskQueue(&cfg, log)
		if err != nil {
			return nil, err
		}
		s.disk = disk
		for _, r := range restored {
			s.out.restore(r)
		}
		s.out.setSeq(lastSeq)
	}
	return &Client{
		cfg:           cfg,
		tls:           t,
		presign:       presign,
		log:           log,
		drainInterval: cfg.drainInterval(),
		s:             s,
	}, nil
}

// Close disconnects, as Disconnect does if the client is connected, and
// releases the offline queue's directory, making it durable first, so
// that another client (or a restarted program) can open it: what is
// still queued stays there. Without a directory, what is queued is
// discarded. No callback of a request still queued is called. Afterwards
// every call returns ErrClosed; calling Close again returns nil. It is
// bounded by the connect/disconnect timeout (and the final fsync).
func (c *Client) Close() error {
	s := c.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ConnectDisconnectTimeout)
	defer cancel()
	err := c.Disconnect(ctx)
	if errors.Is(err, ErrNotConnected) {
		err = nil
	}
	if cerr := s.disk.close(); err == nil {
		err = cerr
	}
	return err
}

// QueuedRequests returns how many requests wait in the offline queue,
// including those New restored from OfflineQueueDir.
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
	case s.closed:
		return nil, ErrClosed
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
