package client

import (
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// handOffTimeout bounds how long one call into paho may wait for paho to
// take a packet (paho's WriteTimeout). paho blocks there when its writer is
// stuck on a stalled connection, or for good once the connection has gone;
// the link retries a refused hand-off while the connection lives. It never
// holds up a caller: only the link goroutine and synchronous calls with
// more time left than this hand packets to paho.
const handOffTimeout = 100 * time.Millisecond

// Retries of a refused hand-off back off from the first to the last wait.
const (
	firstHandOffRetry = 10 * time.Millisecond
	lastHandOffRetry  = time.Second
)

// linkBacklog is how many requests a live connection takes ahead of paho
// (in flight, not yet handed to it). Requests made while it has that many
// wait in the session's queue, under the offline-queue policy, so a sender
// that outpaces the connection cannot grow memory past the queue's bound.
const linkBacklog = 64

// link is one MQTT connection: a fresh paho client per connection (so no
// stored messages, packet ids or stale acknowledgements cross a reconnect),
// its breakable net.Conn, and one goroutine that hands the link's requests
// to paho in order and settles QoS 0 writes and SUBACKs. PUBACKs and
// UNSUBACKs settle on paho's reading goroutine, through the link's store
// (ackStore), the moment they arrive, whatever their order. The link ends
// once: lost is closed when paho reports the connection gone (or
// Disconnect ended it), and done when its goroutine has returned.
type link struct {
	s              *session
	paho           paho.Client
	sessionPresent bool

	connMu sync.Mutex     // guards conn
	conn   *breakableConn // set by the open function during Connect

	// queue holds the requests given to the link and not yet handed to
	// paho, in order (guarded by session.mu).
	queue []*request

	// sendMu is held by whoever calls into paho's Publish, Subscribe and
	// Unsubscribe: the link goroutine, or a synchronous caller on the fast
	// path. paho assigns a packet id inside that call, so the store knows
	// which request it belongs to (sending). It also guards the requests'
	// sentOn and sentAt.
	sendMu  sync.Mutex
	sending *request
	// direct counts the QoS 0 publishes synchronous callers handed to paho
	// and have not settled yet (finish waits for them).
	direct sync.WaitGroup

	mu       sync.Mutex              // guards the fields below
	byID     map[uint16]*request     // handed to paho, waiting for their acknowledgement
	written  []written               // QoS 0 publishes handed to paho, waiting for the write, in order
	answered []*request              // answered requests to settle on the link goroutine, in arrival order (from the first SUBACK on)
	tokens   map[*request]paho.Token // SUBSCRIBE tokens, for their return codes
	wake     chan struct{}           // buffered 1

	lostOnce sync.Once
	lost     chan struct{}
	cause    error // why it was lost; set before lost is closed
	done     chan struct{}
}

// written is a QoS 0 publish and the token paho completes when it is
// written.
type written struct {
	r   *request
	tok paho.Token
}

func newLink(s *session) *link {
	return &link{
		s:      s,
		byID:   make(map[uint16]*request),
		tokens: make(map[*request]paho.Token),
		wake:   make(chan struct{}, 1),
		lost:   make(chan struct{}),
		done:   make(chan struct{}),
	}
}

func (l *link) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// markLost records that the connection is gone, once.
func (l *link) markLost(cause error) {
	l.lostOnce.Do(func() {
		l.cause = cause
		close(l.lost)
	})
}

func (l *link) isLost() bool {
	select {
	case <-l.lost:
		return true
	default:
		return false
	}
}

// breakConn makes the connection fail now: paho sees a read error at once
// and reports the loss.
func (l *link) breakConn() {
	l.connMu.Lock()
	c := l.conn
	l.connMu.Unlock()
	if c != nil {
		c.breakNow()
	}
}

// enqueue gives r to the link, behind what it already has. The caller
// holds session.mu, so requests reach the link in acceptance order.
func (l *link) enqueue(r *request) {
	l.queue = append(l.queue, r)
	l.signal()
}

// run is the link goroutine: it hands the link's requests to paho in order
// and settles QoS 0 writes and SUBACKs, until the connection is lost.
func (l *link) run() {
	defer close(l.done)
	retry := firstHandOffRetry
	for {
		if !l.sendQueued() {
			if !l.pause(retry) {
				return
			}
			retry = min(2*retry, lastHandOffRetry)
			continue
		}
		retry = firstHandOffRetry
		l.settleWritten()
		l.settleAnswered()
		var writtenDone <-chan struct{}
		l.mu.Lock()
		if len(l.written) > 0 {
			writtenDone = l.written[0].tok.Done()
		}
		l.mu.Unlock()
		select {
		case <-l.wake:
		case <-writtenDone:
		case <-l.lost:
			return
		}
	}
}

// pause waits d before a hand-off is tried again; false if the connection
// was lost meanwhile.
func (l *link) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.lost:
		return false
	}
}

// sendQueued hands paho what the link was given, in order, then what the
// session's queue holds while the connection is stable (session.next). It
// returns false if paho refused a request (it stays first in line).
func (l *link) sendQueued() bool {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	for !l.isLost() {
		r := l.s.next(l)
		if r == nil {
			return true
		}
		tok := l.hand(r)
		if tok == nil {
			l.s.putBack(l, r)
			return false
		}
		l.mu.Lock()
		switch {
		case r.kind == kindPublish && r.qos == QoS0:
			l.written = append(l.written, written{r, tok})
		case r.kind == kindSubscribe || r.kind == kindRenew:
			l.tokens[r] = tok
		}
		l.mu.Unlock()
	}
	return true
}

// hand gives r to paho and returns paho's token, or nil if paho refused to
// take it (its writer is stuck, or the connection is going). The caller
// holds sendMu.
func (l *link) hand(r *request) paho.Token {
	if r.expectsAck() {
		r.sentOn, r.sentAt = l, time.Now()
	}
	l.sending = r
	tok := r.sendVia(l.paho) // the store's Put files r under its packet id
	l.sending = nil
	if isDone(tok) && tok.Error() != nil {
		l.forget(r)
		return nil
	}
	return tok
}

// handDirect hands a synchronous caller's publish to paho and releases
// sendMu. It returns paho's token, or nil if paho refused it (the link then
// goes on trying, first in line). For a QoS 0 publish the caller must call
// settleDirect once.
func (l *link) handDirect(r *request) paho.Token {
	defer l.sendMu.Unlock()
	tok := l.hand(r)
	if tok == nil {
		l.s.putBack(l, r)
		return nil
	}
	if r.qos == QoS0 {
		l.direct.Add(1)
	}
	return tok
}

// settleDirect settles a QoS 0 publish a synchronous caller handed to paho,
// if it was written, and reports whether it did. With giveUp (the caller
// stops waiting), an unwritten one is left to the link goroutine.
func (l *link) settleDirect(r *request, tok paho.Token, giveUp bool) bool {
	defer l.direct.Done()
	if isDone(tok) {
		return tok.Error() == nil && l.s.settle(r, l, nil)
	}
	if giveUp {
		l.mu.Lock()
		l.written = append(l.written, written{r, tok})
		l.mu.Unlock()
		l.signal()
	}
	return false
}

// forget drops the packet ids filed for r by a hand-off paho refused.
func (l *link) forget(r *request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, x := range l.byID {
		if x == r {
			delete(l.byID, id)
		}
	}
}

// assignID files the request being handed to paho under the packet id paho
// gave it (paho's Store.Put, on the sendMu holder's goroutine).
func (l *link) assignID(id uint16) {
	if r := l.sending; r != nil {
		l.mu.Lock()
		l.byID[id] = r
		l.mu.Unlock()
	}
}

// acknowledged is told that the acknowledgement for packet id arrived
// (paho's Store.Del, on paho's reading goroutine, just before paho
// completes the token). A PUBACK or UNSUBACK settles its request at once;
// a SUBACK's return codes are read from the token by the link goroutine,
// and answers that arrive while one waits there queue behind it, so
// requests settle in the order their answers arrived.
func (l *link) acknowledged(id uint16) {
	l.mu.Lock()
	r := l.byID[id]
	delete(l.byID, id)
	if r != nil && (r.kind == kindSubscribe || r.kind == kindRenew || len(l.answered) > 0) {
		l.answered = append(l.answered, r)
		l.mu.Unlock()
		l.signal()
		return
	}
	l.mu.Unlock()
	if r != nil {
		l.s.settle(r, l, nil)
	}
}

// settleWritten settles the QoS 0 publishes paho has written, in order
// (paho writes them in the order it took them; one not yet written holds
// back those after it, which costs nothing: none of them waits for an
// answer).
func (l *link) settleWritten() {
	l.mu.Lock()
	n := 0
	for n < len(l.written) && isDone(l.written[n].tok) {
		n++
	}
	done := l.written[:n:n]
	l.written = l.written[n:]
	l.mu.Unlock()
	for _, w := range done {
		if w.tok.Error() == nil {
			l.s.settle(w.r, l, nil)
		}
	}
}

// settleAnswered settles the requests answered while a SUBACK waited, in
// order, SUBSCRIBEs with their return codes. Each stays first in line
// until it is settled, so an answer arriving meanwhile queues behind it.
func (l *link) settleAnswered() {
	for {
		l.mu.Lock()
		if len(l.answered) == 0 {
			l.mu.Unlock()
			return
		}
		r := l.answered[0]
		tok := l.tokens[r]
		delete(l.tokens, r)
		l.mu.Unlock()
		var err error
		if tok != nil {
			<-tok.Done() // paho completes it right after the acknowledgement
			if r.kind == kindRenew {
				r.codes = tok.(*paho.SubscribeToken).Result()
			} else if code := subackCode(tok); code == 0x80 {
				err = &SubscribeError{Filter: r.topic, ReturnCode: code}
			}
		}
		l.s.settle(r, l, err)
		l.mu.Lock()
		l.answered[0] = nil
		l.answered = l.answered[1:]
		l.mu.Unlock()
	}
}

// finish settles what the connection finished before it ended: QoS 0
// publishes written and answers received. paho reports the loss only once
// its reading and writing goroutines have stopped, so nothing finishes
// later; finish first waits for calls into paho still in progress and for
// synchronous callers settling their QoS 0 writes. Run it after lost and
// done, before session.linkEnded.
func (l *link) finish() {
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	l.direct.Wait()
	l.mu.Lock()
	pending := l.written
	l.written = nil
	l.mu.Unlock()
	for _, w := range pending {
		if isDone(w.tok) && w.tok.Error() == nil {
			l.s.settle(w.r, l, nil)
		}
	}
	l.settleAnswered()
}

// sentInfo returns the link that last handed r to paho, and when. Call it
// after finish (which orders it after every hand-off on l).
func (l *link) sentInfo(r *request) (*link, time.Time) { return r.sentOn, r.sentAt }

func isDone(tok paho.Token) bool {
	select {
	case <-tok.Done():
		return true
	default:
		return false
	}
}
