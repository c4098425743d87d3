package client

import (
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeToken is a paho token the test completes.
type fakeToken struct {
	done chan struct{}
	err  error
}

func newFakeToken() *fakeToken { return &fakeToken{done: make(chan struct{})} }

func (t *fakeToken) complete(err error) { t.err = err; close(t.done) }

func (t *fakeToken) Wait() bool                     { <-t.done; return true }
func (t *fakeToken) WaitTimeout(time.Duration) bool { return isDone(t) }
func (t *fakeToken) Done() <-chan struct{}          { return t.done }
func (t *fakeToken) Error() error                   { return t.err }

// settleRig is a session with one live link, without a network: requests
// are put in flight on the link by hand, and paho's side (packet ids,
// acknowledgements, written QoS 0 tokens) is played by the test.
type settleRig struct {
	t    *testing.T
	s    *session
	l    *link
	acks []string // ack callbacks, in the order they ran
	disp *dispatcher
}

func newSettleRig(t *testing.T) *settleRig {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rig := &settleRig{t: t, s: &session{log: log, opTimeout: time.Minute, rejectAfter: 2, changed: make(chan struct{}), status: StatusStable}}
	rig.disp = startDispatcher(log, nil)
	t.Cleanup(func() { rig.disp.close(); <-rig.disp.stopped })
	rig.s.disp = rig.disp
	rig.l = newLink(rig.s)
	rig.s.link = rig.l
	return rig
}

// inflight puts a request in flight on the link, as if handed to paho
// (with packet id id when it expects an answer).
func (rig *settleRig) inflight(name string, qos QoS, id uint16) *request {
	r := &request{kind: kindPublish, topic: name, qos: qos, done: make(chan result, 1)}
	r.onAck = func(err error) { rig.acks = append(rig.acks, name+":"+errString(err)) }
	rig.s.mu.Lock()
	rig.s.out.pushInflight(r, rig.l)
	rig.s.mu.Unlock()
	r.sentOn, r.sentAt = rig.l, time.Now()
	if id != 0 {
		rig.l.sending = r
		rig.l.assignID(id)
		rig.l.sending = nil
	}
	return r
}

// flushAcks waits until the dispatcher has run the callbacks queued so far.
func (rig *settleRig) flushAcks() []string {
	done := make(chan struct{})
	rig.disp.push(func() { close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		rig.t.Fatal("the dispatcher did not run the callbacks in 10 s")
	}
	return rig.acks
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func result0(t *testing.T, r *request) result {
	t.Helper()
	select {
	case res := <-r.done:
		return res
	default:
		t.Fatalf("%s: no result", r.topic)
		return result{}
	}
}

// A PUBACK settles its request at once, whatever the order acknowledgements
// arrive in; a late one for a request no longer on the link is ignored.
func TestSettleOnAcknowledgement(t *testing.T) {
	t.Parallel()
	rig := newSettleRig(t)
	a, b := rig.inflight("a", QoS1, 1), rig.inflight("b", QoS1, 2)
	rig.l.acknowledged(2) // b before a: no head-of-line blocking
	require.Equal(t, stateFinished, b.state)
	require.Equal(t, stateInflight, a.state)
	require.Equal(t, result{Sent, nil}, result0(t, b))
	rig.l.acknowledged(7) // an id nobody holds
	rig.l.acknowledged(1)
	require.Equal(t, []string{"b:ok", "a:ok"}, rig.flushAcks())
	require.True(t, rig.s.out.doneUpTo(rig.s.out.seq))

	// Once the link is gone, its acknowledgement no longer counts.
	c := rig.inflight("c", QoS1, 3)
	require.Equal(t, 1, rig.s.linkEnded(rig.l, false, time.Now()))
	require.Equal(t, result{Queued, nil}, result0(t, c))
	require.False(t, rig.s.settle(c, rig.l, nil))
	require.Equal(t, stateQueued, c.state)
}

// QoS 0 publishes settle once written, in order; at the end of a link the
// written ones are settled and the rest go back to the queue.
func TestSettleWrittenQoS0(t *testing.T) {
	t.Parallel()
	rig := newSettleRig(t)
	tokens := make([]*fakeToken, 4)
	reqs := make([]*request, 4)
	for i := range tokens {
		reqs[i] = rig.inflight(string(rune('a'+i)), QoS0, 0)
		tokens[i] = newFakeToken()
		rig.l.written = append(rig.l.written, written{reqs[i], tokens[i]})
	}
	tokens[0].complete(nil)
	tokens[2].complete(nil) // written out of order: held behind b
	rig.l.settleWritten()
	require.Equal(t, []string{"a:ok"}, rig.flushAcks())
	tokens[1].complete(errors.New("write failed"))
	rig.l.settleWritten()
	require.Equal(t, []string{"a:ok", "c:ok"}, rig.flushAcks(), "a failed write is not a success")

	// The link ends: d was never written, b failed: both are sent again.
	rig.l.markLost(io.EOF)
	close(rig.l.done)
	rig.l.finish()
	require.Equal(t, 2, rig.s.linkEnded(rig.l, true, time.Now()))
	require.Equal(t, stateQueued, reqs[1].state)
	require.Equal(t, stateQueued, reqs[3].state)
	require.Zero(t, reqs[3].closes, "QoS 0 is never blamed for a close")
}

// A synchronous QoS 0 publish settles itself when written; one whose
// caller stops waiting is settled by the link, or at its end.
func TestSettleDirectQoS0(t *testing.T) {
	t.Parallel()
	rig := newSettleRig(t)
	a := rig.inflight("a", QoS0, 0)
	tokA := newFakeToken()
	rig.l.direct.Add(1)
	tokA.complete(nil)
	require.True(t, rig.l.settleDirect(a, tokA, false))

	b := rig.inflight("b", QoS0, 0)
	tokB := newFakeToken()
	rig.l.direct.Add(1)
	require.False(t, rig.l.settleDirect(b, tokB, true), "not written yet: left to the link")
	tokB.complete(nil)
	rig.l.markLost(io.EOF)
	close(rig.l.done)
	rig.l.finish() // written before the end: settled, not sent again
	require.Zero(t, rig.s.linkEnded(rig.l, true, time.Now()))
	require.Equal(t, []string{"a:ok", "b:ok"}, rig.flushAcks())
}

// A request the broker answers by closing the connection is blamed while
// it is the oldest sent and unanswered, and rejected after rejectAfter
// closes; the requests behind it stay.
func TestSettleRejectsAfterCloses(t *testing.T) {
	t.Parallel()
	rig := newSettleRig(t)
	bad, next := rig.inflight("bad", QoS1, 1), rig.inflight("next", QoS1, 2)
	require.Equal(t, 2, rig.s.linkEnded(rig.l, true, time.Now()))
	require.Equal(t, 1, bad.closes)
	require.Zero(t, next.closes)

	// The next connection: the drain sends bad again, and the broker
	// closes again.
	l2 := newLink(rig.s)
	rig.s.mu.Lock()
	rig.s.link = l2
	rig.s.out.markInflight(bad, l2)
	rig.s.mu.Unlock()
	bad.sentOn, bad.sentAt = l2, time.Now()
	require.Equal(t, 0, rig.s.linkEnded(l2, true, time.Now()))
	require.Equal(t, stateFinished, bad.state)
	require.Equal(t, result{Queued, nil}, result0(t, bad), "a synchronous caller learnt of the first close; the callback tells the end")
	acks := rig.flushAcks()
	require.Len(t, acks, 1)
	require.Contains(t, acks[0], "bad:"+ErrRejectedByBroker.Error())
	require.Same(t, next, rig.s.out.firstQueued())

	// A close long after the request was sent is not blamed on it.
	rig.s.mu.Lock()
	rig.s.out.markInflight(next, l2)
	rig.s.mu.Unlock()
	next.sentOn, next.sentAt = l2, time.Now().Add(-2*time.Minute)
	rig.s.linkEnded(l2, true, time.Now())
	require.Zero(t, next.closes)
}

// DropOldest finishes the dropped request with ErrDropped; Flush waiters
// are woken as the requests they wait for finish.
func TestSettleDropAndFlush(t *testing.T) {
	t.Parallel()
	rig := newSettleRig(t)
	rig.s.status = StatusConnecting
	rig.s.out.limit, rig.s.out.drop = 1, DropOldest
	first := &request{kind: kindPublish, topic: "first", onAck: func(err error) { rig.acks = append(rig.acks, "first:"+errString(err)) }}
	_, err := rig.s.submit(first, false)
	require.NoError(t, err)
	f := flusher{seq: rig.s.out.seq, done: make(chan error, 1)}
	rig.s.flushers = append(rig.s.flushers, f)
	a, err := rig.s.submit(&request{kind: kindPublish, topic: "second"}, false)
	require.NoError(t, err)
	require.Equal(t, QueuedDroppedOldest, a.outcome)
	require.Equal(t, []string{"first:" + ErrDropped.Error()}, rig.flushAcks())
	select {
	case err := <-f.done:
		require.NoError(t, err, "the Flush waited for the dropped request only")
	default:
		t.Fatal("Flush not woken")
	}
}
