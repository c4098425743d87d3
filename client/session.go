package client

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// session owns the state of the client's requests: the status, the outbox
// (what is in flight and the offline queue), the subscriptions, the Flush
// waiters, the callback dispatcher and the current run. Every rule about a
// request's life lives here: submit routes a new request, finish is the one
// function that ends a request (acknowledged, refused, dropped or
// rejected), and linkEnded is the one place that puts the requests in
// flight on a lost connection back in the queue.
type session struct {
	log         *slog.Logger
	opTimeout   time.Duration // how recently a request must have been sent to be blamed for a close
	rejectAfter int           // closes after which a request is rejected; 0: never

	mu       sync.Mutex // guards everything below
	status   Status
	changed  chan struct{} // closed and replaced when status changes
	link     *link         // the live connection, or nil
	out      outbox
	subs     subscriptions
	flushers []flusher
	run      *run        // the current Connect…Disconnect, or nil
	disp     *dispatcher // the latest run's dispatcher (callbacks stay ordered across runs)
	disk     *diskQueue  // the queue's directory (OfflineQueueDir), or nil
	closed   bool        // Close was called
}

// flusher is a Flush call waiting for the requests accepted up to seq.
type flusher struct {
	seq  uint64
	done chan error // buffered 1
}

// setStatus changes the status and wakes WaitStatus calls. Once stopping,
// only the end of the run (idle) changes it. s.mu must be held.
func (s *session) setStatus(st Status) {
	if s.status == st || (s.status == StatusStopping && st != StatusIdle) {
		return
	}
	s.status = st
	close(s.changed)
	s.changed = make(chan struct{})
}

// accepting returns why new requests are refused now, or nil. s.mu must be
// held.
func (s *session) accepting() error {
	if s.closed {
		return ErrClosed
	}
	switch s.status {
	case StatusIdle:
		return ErrNotConnected
	case StatusStopping:
		return fmt.Errorf("%w: disconnecting", ErrNotConnected)
	}
	return nil
}

// admission is where submit put a request.
type admission struct {
	outcome Outcome
	// link is the live connection the request is in flight on, or queued
	// behind while that connection is busy (then a synchronous caller keeps
	// waiting, until the connection is lost).
	link *link
	// direct: the caller holds link.sendMu and hands the request to paho
	// itself (link.handDirect).
	direct bool
}

// submit routes an accepted request. On a stable connection with nothing
// queued it goes in flight at once, unless the connection already holds
// linkBacklog requests it has not handed to paho; otherwise it joins the
// queue under the offline-queue policy: while offline or recovering, or
// while the live connection is still taking earlier requests (then the
// link goroutine pulls it as soon as it can, see pull). With direct, a publish
// may be handed to paho by the caller itself (the fast path of a
// synchronous call). With a queue directory, a queued publish is on disk
// before submit returns (see diskQueue.durable); if it cannot be written,
// it is refused and nothing changes; if it was written but its fsync
// failed, it stays queued and the error says so.
func (s *session) submit(r *request, direct bool) (admission, error) {
	s.mu.Lock()
	if err := s.accepting(); err != nil {
		s.mu.Unlock()
		releasePayload(r.buf)
		return admission{}, err
	}
	l := s.link
	if s.status != StatusStable {
		l = nil
	}
	if l != nil && s.out.queued == 0 {
		if backlog := len(l.queue); backlog < linkBacklog {
			s.out.pushInflight(r, l)
			s.beforeSend(r)
			if direct && backlog == 0 && l.sendMu.TryLock() {
				s.mu.Unlock()
				return admission{InFlight, l, true}, nil
			}
			l.enqueue(r)
			s.mu.Unlock()
			return admission{InFlight, l, false}, nil
		}
	}
	outcome, dropped, err := s.out.admit()
	var pos int64
	if err == nil {
		pos, err = s.disk.add(r, s.out.nextSeq(), dropped)
	}
	if err != nil {
		s.mu.Unlock()
		releasePayload(r.buf)
		return admission{}, err
	}
	s.out.pushBack(r, stateQueued)
	if dropped != nil {
		s.finish(dropped, ErrDropped)
	}
	s.mu.Unlock()
	if l != nil {
		l.signal() // it pulls the request when it can
	}
	s.log.Debug("client: request queued", "kind", r.kind, "topic", r.topic, "outcome", outcome)
	return admission{outcome, l, false}, s.disk.durable(pos)
}

// next returns the next request for l to hand to paho: what l was given,
// in order, then, while l is the live, stable connection, the oldest
// queued request (moved in flight on l): how the link takes requests made
// faster than it sends them. It returns nil if there is none.
func (s *session) next(l *link) *request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(l.queue) > 0 {
		r := l.queue[0]
		l.queue[0] = nil
		l.queue = l.queue[1:]
		return r
	}
	r := s.out.firstQueued()
	if r == nil || s.status != StatusStable || s.link != l || l.isLost() {
		return nil
	}
	s.out.markInflight(r, l)
	s.beforeSend(r)
	return r
}

// putBack puts a request paho refused back first in l's line.
func (s *session) putBack(l *link, r *request) {
	s.mu.Lock()
	l.queue = append([]*request{r}, l.queue...)
	s.mu.Unlock()
	l.signal()
}

// queued reports whether r waits in the queue.
func (s *session) queued(r *request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return r.state == stateQueued
}

// beforeSend updates the routing table as a (un)subscribe goes out. s.mu
// must be held.
func (s *session) beforeSend(r *request) {
	switch r.kind {
	case kindSubscribe:
		s.subs.sending(r.topic, r.qos, r.handler)
	case kindUnsubscribe:
		s.subs.unsubscribing(r.topic)
	}
}

// settle finishes r with the broker's answer (nil: acknowledged), if it is
// still in flight on l; it reports whether it did. Answers from a
// connection the request is no longer on are ignored.
func (s *session) settle(r *request, l *link, err error) bool {
	s.mu.Lock()
	if r.state != stateInflight || r.link != l {
		s.mu.Unlock()
		return false
	}
	outcome, err := s.end(r, err)
	s.mu.Unlock()
	r.report(outcome, err)
	return true
}

// finish ends a request's life: out of the outbox, the subscription table
// updated, its synchronous caller and ack callback told, Flush waiters
// woken, its payload released. err is nil for success, a *SubscribeError,
// ErrRejectedByBroker or ErrDropped otherwise. It is the one function that
// does; s.mu must be held, and r must be in the outbox (or be a renewal).
func (s *session) finish(r *request, err error) { r.report(s.end(r, err)) }

// end is finish without telling r's synchronous caller: it returns what
// to tell, for settle to tell once s.mu is released. (A caller woken under
// the lock wants it at once for its next request, and on a busy machine
// waits for it.)
func (s *session) end(r *request, err error) (Outcome, error) {
	if r.kind == kindRenew {
		r.state = stateFinished
		return Sent, err
	}
	s.out.remove(r)
	s.disk.remove(r)
	var se *SubscribeError
	switch {
	case r.kind == kindSubscribe && errors.As(err, &se):
		s.subs.delete(r.topic)
	case r.kind == kindSubscribe && err == nil:
		s.subs.granted(r.topic)
	case r.kind == kindUnsubscribe:
		s.subs.deleteIfRemoving(r.topic)
	}
	outcome := Sent
	if err != nil {
		outcome = Rejected
	}
	if ack := r.onAck; ack != nil {
		s.disp.push(func() { ack(err) }) // under the lock: a Disconnect cannot close the dispatcher in between
	}
	if !errors.Is(err, ErrDropped) {
		// A dropped request's payload is left to the garbage collector:
		// a writer on a closing connection may still hold it.
		releasePayload(r.buf)
	}
	s.notifyFlushers()
	return outcome, err
}

// linkEnded is the one place where requests in flight on a lost connection
// go back to the queue, each in its place, so the next connection sends
// them again (at least once). Requests the connection finished before it
// ended were settled before this runs (link.finish). When the broker
// closed the connection, the oldest request still waiting for its answer
// may be rejected instead (rejectIfPoison). With a queue directory, the
// publishes that went back and are not on disk yet are put there before
// their synchronous callers hear Queued. It returns how many went back.
func (s *session) linkEnded(l *link, closedByBroker bool, now time.Time) int {
	s.mu.Lock()
	if s.link == l {
		s.link = nil
	}
	back := s.out.requeueFrom(l)
	if closedByBroker {
		back = s.rejectIfPoison(l, back, now)
	}
	pos, err := s.disk.addBack(back)
	s.mu.Unlock()
	if err == nil {
		err = s.disk.durable(pos)
	}
	if err != nil {
		s.log.Error("client: offline queue: requests back from the lost connection are queued in memory only", "requests", len(back), "error", err)
	}
	for _, r := range back {
		r.report(Queued, err)
	}
	return len(back)
}

// rejectIfPoison blames the close on the oldest request that was sent on l
// (within the operation timeout) and is still unanswered: AWS IoT Core
// answers a request it refuses (a denied publish or subscription, a
// protocol violation) by closing the connection, and answers every earlier
// request first. Once a request has been blamed rejectAfter times it is
// rejected with ErrRejectedByBroker and removed, so the requests behind it
// can go out. back holds the requests just requeued from l, oldest first;
// it returns those still queued. s.mu must be held.
func (s *session) rejectIfPoison(l *link, back []*request, now time.Time) []*request {
	if s.rejectAfter <= 0 {
		return back
	}
	for i, r := range back {
		if !r.expectsAck() {
			continue
		}
		sentOn, sentAt := l.sentInfo(r)
		if sentOn != l || now.Sub(sentAt) > s.opTimeout {
			continue
		}
		r.closes++
		if r.closes < s.rejectAfter {
			return back
		}
		s.log.Warn("client: the broker closed the connection each time this request was sent; rejected", "kind", r.kind, "topic", r.topic, "closes", r.closes)
		s.finish(r, fmt.Errorf("%w: %s %q, %d times", ErrRejectedByBroker, r.kind, r.topic, r.closes))
		return append(back[:i:i], back[i+1:]...)
	}
	return back
}

// nextToDrain moves the oldest queued request in flight on l and hands it
// to l; it reports whether it found one and whether more remain. When the
// queue is empty the client is stable at once, so new requests go straight
// out.
func (s *session) nextToDrain(l *link) (sent, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.out.firstQueued()
	if r != nil {
		s.out.markInflight(r, l)
		s.beforeSend(r)
		l.enqueue(r)
	}
	if s.out.queued == 0 {
		s.setStatus(StatusStable)
	}
	return r != nil, s.out.queued > 0
}

// notifyFlushers wakes the Flush calls whose requests have all finished.
// s.mu must be held.
func (s *session) notifyFlushers() {
	s.wakeFlushers(nil)
}

// wakeFlushers wakes the Flush calls whose requests have all finished, or
// all of them with err if err is not nil. s.mu must be held.
func (s *session) wakeFlushers(err error) {
	kept := s.flushers[:0]
	for _, f := range s.flushers {
		switch {
		case s.out.doneUpTo(f.seq):
			f.done <- nil
		case err != nil:
			f.done <- err
		default:
			kept = append(kept, f)
		}
	}
	clear(s.flushers[len(kept):])
	s.flushers = kept
}

// pendingError says that requests wait for the next Connect. s.mu must be
// held.
func (s *session) pendingError() error {
	return fmt.Errorf("%w: %d request(s) wait for the next Connect", ErrNotConnected, s.out.queued+s.out.inflight)
}
