package client

// reqKind is what a request asks of the broker.
type reqKind uint8

const (
	kindPublish reqKind = iota + 1
	kindSubscribe
	kindUnsubscribe
)

func (k reqKind) String() string {
	switch k {
	case kindPublish:
		return "publish"
	case kindSubscribe:
		return "subscribe"
	default:
		return "unsubscribe"
	}
}

// reqState is where a request is in its life.
type reqState uint8

const (
	stateQueued   reqState = iota + 1 // waiting for a live connection
	stateInflight                     // handed to connection gen, not yet acknowledged
	stateDone                         // acknowledged or refused
	stateDropped                      // removed by DropOldest to make room
)

// request is one publish, subscribe or unsubscribe, from acceptance until
// its acknowledgement. Requests live in the outbox in acceptance order.
type request struct {
	kind  reqKind
	qos   QoS
	state reqState
	gen   uint32 // connection generation while in flight
	seq   uint64 // acceptance order (Flush waits for a prefix)
	topic string // topic, or filter
	// payload is the publish payload: the caller's (PublishAsync), or buf's.
	payload []byte
	// buf, if set, is a pooled copy of the payload that the request owns
	// (Publish), returned to the pool when the request is finished.
	buf *payloadBuf
	// handler is a subscribe request's message callback.
	handler MessageHandler
	// onAck, if set, is called on the dispatcher with the final result.
	onAck func(error)

	prev, next *request
}

// outbox holds every accepted, unfinished request in acceptance order: those
// in flight on a connection and those queued for the next one. It applies
// the offline-queue policy. It is not safe for concurrent use (Client.mu).
type outbox struct {
	head, tail *request
	seq        uint64 // the last sequence number given
	queued     int    // requests in stateQueued
	inflight   int    // requests in stateInflight
	limit      int    // < 0: infinite; 0: disabled; else the most queued requests
	drop       DropBehavior
}

// enqueue queues r under the offline-queue policy. It returns the outcome,
// the request dropped to make room (DropOldest), or the refusal.
func (o *outbox) enqueue(r *request) (Outcome, *request, error) {
	switch {
	case o.limit == 0:
		return 0, nil, ErrQueueDisabled
	case o.limit > 0 && o.queued >= o.limit:
		if o.drop == DropNewest {
			return 0, nil, ErrQueueFull
		}
		oldest := o.firstQueued()
		o.remove(oldest)
		oldest.state = stateDropped
		o.pushBack(r, stateQueued)
		return QueuedDroppedOldest, oldest, nil
	}
	o.pushBack(r, stateQueued)
	return Queued, nil, nil
}

// sendDirect records r as in flight on connection gen, at the tail.
func (o *outbox) sendDirect(r *request, gen uint32) {
	o.pushBack(r, stateInflight)
	r.gen = gen
}

func (o *outbox) pushBack(r *request, s reqState) {
	o.seq++
	r.seq = o.seq
	r.state = s
	o.count(s, 1)
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

// remove takes r out of the outbox.
func (o *outbox) remove(r *request) {
	o.count(r.state, -1)
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
}

// doneUpTo reports whether every request accepted up to sequence number
// seq has left the outbox (requests are kept in acceptance order).
func (o *outbox) doneUpTo(seq uint64) bool {
	return o.head == nil || o.head.seq > seq
}

// firstQueued returns the oldest queued request, or nil.
func (o *outbox) firstQueued() *request {
	if o.queued == 0 {
		return nil
	}
	for r := o.head; r != nil; r = r.next {
		if r.state == stateQueued {
			return r
		}
	}
	return nil
}

// markInflight moves a queued request in flight on connection gen, keeping
// its place.
func (o *outbox) markInflight(r *request, gen uint32) {
	o.count(r.state, -1)
	r.state, r.gen = stateInflight, gen
	o.count(stateInflight, 1)
}

// requeue puts an in-flight request of connection gen back in the queue, in
// its place. It reports whether it did (false if r was already settled or
// belongs to another connection).
func (o *outbox) requeue(r *request, gen uint32) bool {
	if r.state != stateInflight || r.gen != gen {
		return false
	}
	o.count(stateInflight, -1)
	r.state = stateQueued
	o.count(stateQueued, 1)
	return true
}

// requeueGen requeues every request in flight on connection gen and returns
// how many.
func (o *outbox) requeueGen(gen uint32) int {
	n := 0
	for r := o.head; r != nil && o.inflight > 0; r = r.next {
		if o.requeue(r, gen) {
			n++
		}
	}
	return n
}

// finish removes an in-flight request of connection gen that has been
// acknowledged. It reports false if r was requeued or settled meanwhile.
func (o *outbox) finish(r *request, gen uint32) bool {
	if r.state != stateInflight || r.gen != gen {
		return false
	}
	o.remove(r)
	r.state = stateDone
	return true
}
