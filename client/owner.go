package client

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// subscribeBatch is how many filters one SUBSCRIBE carries when
// subscriptions are renewed (AWS IoT Core accepts at most 8).
const subscribeBatch = 8

// disconnectQuiesce bounds the wait for the DISCONNECT packet to be written.
const disconnectQuiesce = 250 * time.Millisecond

// errDisconnected is reported to ConnectAsync's callback when Disconnect
// came before the connection.
var errDisconnected = errors.New("client: disconnected before the connection was established")

// run is one Connect…Disconnect span: its owner goroutine and dispatcher.
type run struct {
	cancel context.CancelFunc
	disp   *dispatcher
	done   chan struct{} // closed when the owner goroutine and its links have stopped
	wg     sync.WaitGroup

	firstOnce sync.Once
	first     chan error  // the first connection attempt's result, buffered 1
	onFirst   func(error) // ConnectAsync's ack callback
	onStopped []func(error)
}

// reportFirst delivers the first connection attempt's result, once.
func (r *run) reportFirst(err error) {
	r.firstOnce.Do(func() {
		r.first <- err
		if r.onFirst != nil {
			r.disp.push(func() { r.onFirst(err) })
		}
	})
}

// own is the connection owner goroutine of one run: connect, recover
// (renew subscriptions, drain the queue), wait for the loss, back off,
// reconnect, until the run's context is cancelled.
//
// Attempts keep to a schedule, like a ticker: each back-off wait runs from
// the time the failed attempt was due (from the loss, for the first), so
// attempts come at base, 3·base, 7·base… after a loss, and timer lateness
// does not accumulate. When an attempt took longer than the next wait (a
// connect timeout longer than the back-off), the schedule skips the slots
// it missed rather than making up for them (nextAttempt).
func (c *Client) own(ctx context.Context, r *run) {
	defer c.endRun(r)
	bo := newBackoff(&c.cfg)
	connectedOnce := false
	due := time.Now() // when the coming attempt is scheduled
	for {
		l, err := c.dial(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !connectedOnce && !c.cfg.RetryFirstConnect {
				c.log.Warn("client: connect failed", "endpoint", c.endpoint(), "error", err)
				r.reportFirst(err)
				return
			}
			wait := bo.next()
			due = nextAttempt(due, wait, time.Now())
			c.log.Warn("client: connect failed; backing off", "endpoint", c.endpoint(), "error", err, "wait", wait)
			if !sleepUntil(ctx, due) {
				return
			}
			continue
		}
		up := time.Now()
		c.online(r, l)
		connectedOnce = true
		r.reportFirst(nil)
		c.recover(ctx, l)
		select { // recovered, or gave up on a failing link: wait for the end
		case <-l.lost:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			c.closeLink(r, l)
			return
		}
		lost := time.Now()
		upFor := lost.Sub(up)
		c.offline(r, l)
		bo.connectionLost(upFor)
		wait := bo.next()
		due = lost.Add(wait)
		c.log.Info("client: reconnecting after back-off", "wait", wait, "was_up", upFor.Round(time.Millisecond))
		if !sleepUntil(ctx, due) {
			return
		}
	}
}

// nextAttempt returns when the attempt after the one due at slot comes:
// one wait later, or, if that time has already passed (the attempt took
// longer), the first slot of the same schedule that is still to come. So
// two attempts are never closer than the wait, and missed slots are
// skipped, never made up in a burst.
func nextAttempt(slot time.Time, wait time.Duration, now time.Time) time.Time {
	next := slot.Add(wait)
	if late := now.Sub(next); late > 0 {
		next = next.Add((late + wait - 1) / wait * wait)
	}
	return next
}

// online installs a new connection and starts its goroutine: requests now
// queue behind the recovery, unless there is nothing to recover.
func (c *Client) online(r *run, l *link) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		l.run()
	}()
	s := c.s
	s.mu.Lock()
	s.link = l
	st := StatusRecovering
	if s.out.queued == 0 && (l.sessionPresent || len(s.subs.confirmedFilters()) == 0) {
		st = StatusStable // nothing to recover: requests go straight out from now
	}
	s.setStatus(st)
	queued := s.out.queued
	s.mu.Unlock()
	c.log.Info("client: connected", "endpoint", c.endpoint(), "session_present", l.sessionPresent, "queued", queued)
	if fn := c.cfg.OnOnline; fn != nil {
		r.disp.push(fn)
	}
}

// offline records the loss of l: what it finished is settled, what was in
// flight goes back in the queue.
func (c *Client) offline(r *run, l *link) {
	c.s.mu.Lock()
	c.s.setStatus(StatusConnecting)
	c.s.mu.Unlock()
	<-l.done
	l.finish()
	requeued := c.s.linkEnded(l, closedByBroker(l.cause), time.Now())
	c.log.Info("client: connection lost", "cause", l.cause, "requeued", requeued, "queued", c.QueuedRequests())
	if fn := c.cfg.OnOffline; fn != nil {
		cause := l.cause
		r.disp.push(func() { fn(cause) })
	}
}

// closeLink ends l for Disconnect: DISCONNECT, then what was in flight goes
// back in the queue for the next Connect.
func (c *Client) closeLink(r *run, l *link) {
	l.paho.Disconnect(uint(disconnectQuiesce.Milliseconds()))
	l.markLost(nil)
	<-l.done
	l.finish()
	c.s.linkEnded(l, false, time.Now())
	c.log.Info("client: disconnected")
	if fn := c.cfg.OnOffline; fn != nil {
		r.disp.push(func() { fn(nil) })
	}
}

// closedByBroker says whether a connection ended because the broker closed
// it (as AWS IoT Core does when it refuses a request), rather than by a
// keepalive timeout, a write stall or the client itself.
func closedByBroker(cause error) bool {
	var ce *websocket.CloseError
	return errors.Is(cause, io.EOF) || errors.Is(cause, io.ErrUnexpectedEOF) ||
		errors.Is(cause, syscall.ECONNRESET) || errors.Is(cause, syscall.ECONNABORTED) ||
		errors.Is(cause, syscall.EPIPE) || errors.As(cause, &ce)
}

// endRun marks the client idle once the owner stops, waits for the
// connection goroutines, and lets the dispatcher finish.
func (c *Client) endRun(r *run) {
	r.wg.Wait()
	s := c.s
	s.mu.Lock()
	if s.run == r {
		s.run = nil
		s.setStatus(StatusIdle)
		s.link = nil
	}
	stopped := r.onStopped
	s.wakeFlushers(s.pendingError())
	s.mu.Unlock()
	r.reportFirst(errDisconnected)
	for _, fn := range stopped {
		r.disp.push(func() { fn(nil) })
	}
	r.disp.close()
	close(r.done)
}

// recover renews the confirmed subscriptions (unless the session survived)
// and drains the offline queue, one request per tick of the draining
// interval, the first at once. It stops early if the connection fails or
// the run ends.
func (c *Client) recover(ctx context.Context, l *link) {
	if !l.sessionPresent && !c.renewSubscriptions(ctx, l) {
		return
	}
	var ticker *time.Ticker
	drained := 0
	start := time.Now()
	for {
		sent, more := c.s.nextToDrain(l)
		if sent {
			drained++
		}
		if !more {
			if drained > 0 {
				c.log.Info("client: offline queue drained", "requests", drained, "took", time.Since(start).Round(time.Millisecond))
			}
			return
		}
		if ticker == nil {
			ticker = time.NewTicker(c.drainInterval)
			defer ticker.Stop()
			c.log.Info("client: draining offline queue", "interval", c.drainInterval)
		}
		select {
		case <-ticker.C:
		case <-l.lost:
			return
		case <-ctx.Done():
			return
		}
	}
}

// renewSubscriptions renews every confirmed subscription, a batch of
// filters per SUBSCRIBE, and waits for each SUBACK (bounded by the
// operation timeout). Filters the broker now refuses are dropped. Without a
// SUBACK it gives the connection up (the filters are kept and renewed on
// the next one) and returns false.
func (c *Client) renewSubscriptions(ctx context.Context, l *link) bool {
	c.s.mu.Lock()
	filters := c.s.subs.confirmedFilters()
	c.s.mu.Unlock()
	if len(filters) == 0 {
		return true
	}
	for batch := range batches(filters, subscribeBatch) {
		r := newRenewal(batch)
		c.s.mu.Lock()
		r.state, r.link = stateInflight, l
		l.enqueue(r)
		c.s.mu.Unlock()
		timer := time.NewTimer(c.cfg.OperationTimeout)
		select {
		case <-r.done:
			timer.Stop()
		case <-timer.C:
			c.log.Warn("client: no SUBACK for the renewal of subscriptions; reconnecting to renew them", "filters", len(batch), "timeout", c.cfg.OperationTimeout)
			l.breakConn()
			return false
		case <-l.lost:
			timer.Stop()
			return false
		case <-ctx.Done():
			timer.Stop()
			return false
		}
		for filter, code := range r.codes {
			if code == 0x80 {
				c.log.Warn("client: broker refused a renewed subscription; dropped", "filter", filter)
				c.s.mu.Lock()
				c.s.subs.delete(filter)
				c.s.mu.Unlock()
			}
		}
	}
	c.log.Info("client: subscriptions renewed", "filters", len(filters))
	return true
}

// batches splits filters into maps of at most n.
func batches(filters map[string]byte, n int) func(func(map[string]byte) bool) {
	return func(yield func(map[string]byte) bool) {
		batch := make(map[string]byte, n)
		for f, q := range filters {
			batch[f] = q
			if len(batch) == n {
				if !yield(batch) {
					return
				}
				batch = make(map[string]byte, n)
			}
		}
		if len(batch) > 0 {
			yield(batch)
		}
	}
}

// sleepUntil waits until t, or until ctx ends (then it returns false).
func sleepUntil(ctx context.Context, until time.Time) bool {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
