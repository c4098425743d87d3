package client

import "fmt"

// String names the drop behaviour as its constant does.
func (d DropBehavior) String() string {
	switch d {
	case DropNewest:
		return "DropNewest"
	case DropOldest:
		return "DropOldest"
	default:
		return fmt.Sprintf("DropBehavior(%d)", int(d))
	}
}

// outbox holds every accepted, unfinished request in acceptance order: those
// in flight on a connection and those queued for it or the next one. It
// applies the offline-queue policy. Requests go in flight from the front of
// the queue (or straight to the tail when nothing is queued) and come back
// all at once when their connection is lost, so the requests in flight
// always come before the queued ones; firstQ marks where the queue starts.
// It is not safe for concurrent use (session.mu).
type outbox struct {
	head, tail *request
	firstQ     *request // the oldest queued request, or nil
	seq        uint64   // the last sequence number given
	queued     int      // requests in stateQueued
	inflight   int      // requests in stateInflight
	limit      int      // < 0: offline queueing disabled; 0: no bound; else the most queued requests
	drop       DropBehavior
}

// admit applies the offline-queue policy to one more queued request,
// changing nothing: it returns the outcome, the request to drop to make
// room (DropOldest), or the refusal. The caller then queues the request
// (pushBack) and finishes the dropped one.
func (o *outbox) admit() (Outcome, *request, error) {
	switch {
	case o.limit < 0:
		return NotAccepted, nil, ErrQueueDisabled
	case o.limit > 0 && o.queued >= o.limit:
		if o.drop == DropNewest {
			return NotAccepted, nil, ErrQueueFull
		}
		return QueuedDroppedOldest, o.firstQ, nil
	}
	return Queued, nil, nil
}

// nextSeq is the sequence number the next request pushed gets.
func (o *outbox) nextSeq() uint64 { return o.seq + 1 }

// restore queues r, a request an earlier process left in the offline
// queue's directory, with its sequence number from then (r.seq). Restored
// requests come first, in order; then seq is set above every number on
// disk (setSeq).
func (o *outbox) restore(r *request) {
	o.seq = r.seq - 1
	o.pushBack(r, stateQueued)
}

// setSeq makes the sequence numbers continue after seq, if they are not
// already past it.
func (o *outbox) setSeq(seq uint64) { o.seq = max(o.seq, seq) }

// pushInflight appends r as in flight on l.
func (o *outbox) pushInflight(r *request, l *link) {
	o.pushBack(r, stateInflight)
	r.link = l
}

func (o *outbox) pushBack(r *request, s reqState) {
	o.seq++
	r.seq = o.seq
	r.state = s
	o.count(s, 1)
	if s == stateQueued && o.firstQ == nil {
		o.firstQ = r
	}
	r.prev, r.next = o.tail, nil
	if o.tail != nil {
		o.tail.next = r
	} else {
		o.head = r
	}
	o.tail = r
}

func (o *outbox) count(s reqState, delta int) {
	switch s {
	case stateQueued:
		o.queued += delta
	case stateInflight:
		o.inflight += delta
	}
}

// remove takes r out of the outbox; its state becomes stateFinished.
func (o *outbox) remove(r *request) {
	o.count(r.state, -1)
	if r == o.firstQ {
		o.firstQ = r.next
	}
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		o.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		o.tail = r.prev
	}
	r.prev, r.next = nil, nil
	r.state, r.link = stateFinished, nil
}

// doneUpTo reports whether every request accepted up to sequence number
// seq has left the outbox (requests are kept in acceptance order).
func (o *outbox) doneUpTo(seq uint64) bool {
	return o.head == nil || o.head.seq > seq
}

// firstQueued returns the oldest queued request, or nil.
func (o *outbox) firstQueued() *request { return o.firstQ }

// markInflight moves the oldest queued request in flight on l.
func (o *outbox) markInflight(r *request, l *link) {
	o.count(r.state, -1)
	r.state, r.link = stateInflight, l
	o.count(stateInflight, 1)
	o.firstQ = r.next
}

// requeueFrom moves every request in flight on l back to the queue, in its
// place, and returns them.
func (o *outbox) requeueFrom(l *link) []*request {
	var back []*request
	for r := o.head; r != nil && r.state == stateInflight; r = r.next {
		if r.link == l {
			back = append(back, r)
		}
	}
	for _, r := range back {
		o.count(r.state, -1)
		r.state, r.link = stateQueued, nil
		o.count(stateQueued, 1)
	}
	o.firstQ = o.head
	for o.firstQ != nil && o.firstQ.state == stateInflight {
		o.firstQ = o.firstQ.next
	}
	return back
}
