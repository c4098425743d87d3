package client

import (
	"context"
	"errors"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// subscribeBatch is how many filters one SUBSCRIBE carries when
// subscriptions are renewed (AWS IoT Core accepts at most 8).
const subscribeBatch = 8

// disconnectQuiesce bounds the wait for the DISCONNECT packet to be written.
const disconnectQuiesce = 250 * time.Millisecond

// errDisconnected is reported to ConnectAsync's callback when Disconnect
// came before the connection.
var errDisconnected = errors.New("client: disconnected before the connection was established")

// own is the connection owner goroutine of one run: connect, recover
// (renew subscriptions, drain the queue), wait for the loss, back off,
// reconnect, until the run's context is cancelled.
//
// Attempts keep to a schedule, like a ticker: each back-off wait runs from
// the time the failed attempt was due (from the loss, for the first), so
// attempts come at base, 3·base, 7·base… after a loss, and neither the time
// failed attempts take nor timer lateness accumulates. An attempt due in
// the past (the one before took longer than the wait) starts at once.
func (c *Client) own(ctx context.Context, r *run) {
	defer c.endRun(r)
	bo := newBackoff(&c.cfg)
	connectedOnce := false
	due := time.Now() // when the coming attempt is scheduled
	for {
		l, err := c.dial(ctx, c.nextGen(), r.disp)
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
			due = due.Add(wait)
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

func (c *Client) nextGen() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	return c.gen
}

// online installs a new connection: requests now queue behind the recovery.
func (c *Client) online(r *run, l *link) {
	l.watch = newWatcher()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		c.watch(l)
	}()
	c.mu.Lock()
	c.link = l
	c.status = StatusRecovering
	if c.out.queued == 0 && (l.sessionPresent || len(c.subs.confirmedFilters()) == 0) {
		c.status = StatusStable // nothing to recover: requests go straight out from now
	}
	queued := c.out.queued
	c.mu.Unlock()
	c.log.Info("client: connected", "endpoint", c.endpoint(), "session_present", l.sessionPresent, "queued", queued)
	if fn := c.cfg.OnOnline; fn != nil {
		r.disp.push(fn)
	}
}

// offline records the loss of l: what was in flight goes back in the queue.
func (c *Client) offline(r *run, l *link) {
	c.mu.Lock()
	c.link = nil
	c.status = StatusConnecting
	requeued := c.out.requeueGen(l.gen)
	queued := c.out.queued
	c.mu.Unlock()
	c.log.Info("client: connection lost", "cause", l.cause, "requeued", requeued, "queued", queued)
	if fn := c.cfg.OnOffline; fn != nil {
		cause := l.cause
		r.disp.push(func() { fn(cause) })
	}
}

// closeLink ends l for Disconnect: DISCONNECT, then what was in flight goes
// back in the queue for the next Connect.
func (c *Client) closeLink(r *run, l *link) {
	c.mu.Lock()
	c.status = StatusIdle // no new requests from here on
	c.notifyFlushers(c.pendingError())
	c.mu.Unlock()
	l.paho.Disconnect(uint(disconnectQuiesce.Milliseconds()))
	l.markLost(nil)
	c.mu.Lock()
	c.link = nil
	c.out.requeueGen(l.gen)
	c.mu.Unlock()
	c.log.Info("client: disconnected")
	if fn := c.cfg.OnOffline; fn != nil {
		r.disp.push(func() { fn(nil) })
	}
}

// endRun marks the client idle once the owner stops, waits for the
// connection watchers, and lets the dispatcher finish.
func (c *Client) endRun(r *run) {
	r.wg.Wait()
	c.mu.Lock()
	if c.run == r {
		c.run = nil
		c.status = StatusIdle
		c.link = nil
	}
	stopped := r.onStopped
	c.notifyFlushers(c.pendingError())
	c.mu.Unlock()
	r.reportFirst(errDisconnected)
	for _, fn := range stopped {
		r.disp.push(func() { fn(nil) })
	}
	r.disp.close()
	close(r.done)
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

// recover renews the confirmed subscriptions (unless the session survived)
// and drains the offline queue, one request per tick of the draining
// interval, the first at once. It stops early if the connection fails or
// the run ends.
func (c *Client) recover(ctx context.Context, l *link) {
	if !l.sessionPresent && !c.resubscribe(ctx, l) {
		return
	}
	var ticker *time.Ticker
	drained := 0
	start := time.Now()
	for {
		c.mu.Lock()
		r := c.out.firstQueued()
		if r == nil {
			c.status = StatusStable
			c.mu.Unlock()
			if drained > 0 {
				c.log.Info("client: offline queue drained", "requests", drained, "took", time.Since(start).Round(time.Millisecond))
			}
			return
		}
		c.out.markInflight(r, l.gen)
		c.beforeSend(r)
		c.mu.Unlock()
		if ticker == nil {
			ticker = time.NewTicker(c.drainInterval)
			defer ticker.Stop()
			c.log.Info("client: draining offline queue", "interval", c.drainInterval)
		}
		if !l.watch.push(r, l.send(r)) {
			c.requeue(l, r)
			return
		}
		drained++
		select {
		case <-ticker.C:
		case <-l.lost:
			return
		case <-ctx.Done():
			return
		}
	}
}

// resubscribe renews every confirmed subscription, a batch of filters per
// SUBSCRIBE, and waits for the SUBACKs (each bounded by the operation
// timeout). Filters the broker now refuses are dropped.
func (c *Client) resubscribe(ctx context.Context, l *link) bool {
	c.mu.Lock()
	filters := c.subs.confirmedFilters()
	c.mu.Unlock()
	if len(filters) == 0 {
		return true
	}
	for batch := range batches(filters, subscribeBatch) {
		tok := l.paho.SubscribeMultiple(batch, nil)
		timer := time.NewTimer(c.cfg.OperationTimeout)
		select {
		case <-tok.Done():
			timer.Stop()
		case <-timer.C:
			c.log.Warn("client: no SUBACK while renewing subscriptions; going on", "filters", len(batch), "timeout", c.cfg.OperationTimeout)
			continue
		case <-l.lost:
			timer.Stop()
			return false
		case <-ctx.Done():
			timer.Stop()
			return false
		}
		if err := tok.Error(); err != nil {
			l.breakConn()
			return false
		}
		for filter, code := range tok.(*paho.SubscribeToken).Result() {
			if code == 0x80 {
				c.log.Warn("client: broker refused a renewed subscription; dropped", "filter", filter)
				c.mu.Lock()
				c.subs.delete(filter)
				c.mu.Unlock()
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
