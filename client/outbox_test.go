package client

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func queuedTopics(o *outbox) []string {
	var out []string
	for r := o.head; r != nil; r = r.next {
		if r.state == stateQueued {
			out = append(out, r.topic)
		}
	}
	return out
}

func req(i int) *request { return &request{kind: kindPublish, topic: strconv.Itoa(i)} }

// enqueue queues r as the session does: the policy first, then the push.
func enqueue(o *outbox, r *request) (Outcome, *request, error) {
	out, dropped, err := o.admit()
	if err == nil {
		o.pushBack(r, stateQueued)
	}
	return out, dropped, err
}

// The Python SDK's own queue cases (test_offline_request_queue.py).
func TestQueuePolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		limit, n     int
		drop         DropBehavior
		wantKept     []string
		wantOutcomes map[Outcome]int
		wantErrs     map[error]int
		wantDropped  []string
	}{
		{
			name: "size 3 drop newest keeps the first three", limit: 3, n: 10, drop: DropNewest,
			wantKept: []string{"0", "1", "2"}, wantOutcomes: map[Outcome]int{Queued: 3}, wantErrs: map[error]int{ErrQueueFull: 7},
		},
		{
			name: "size 3 drop oldest keeps the last three", limit: 3, n: 10, drop: DropOldest,
			wantKept: []string{"7", "8", "9"}, wantOutcomes: map[Outcome]int{Queued: 3, QueuedDroppedOldest: 7},
			wantDropped: []string{"0", "1", "2", "3", "4", "5", "6"},
		},
		{
			name: "disabled rejects all", limit: -1, n: 10, drop: DropNewest,
			wantErrs: map[error]int{ErrQueueDisabled: 10},
		},
		{
			name: "size 20 keeps five", limit: 20, n: 5, drop: DropNewest,
			wantKept: []string{"0", "1", "2", "3", "4"}, wantOutcomes: map[Outcome]int{Queued: 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &outbox{limit: tt.limit, drop: tt.drop}
			outcomes, errs := map[Outcome]int{}, map[error]int{}
			var dropped []string
			for i := range tt.n {
				out, d, err := enqueue(o, req(i))
				if err != nil {
					errs[err]++
					continue
				}
				outcomes[out]++
				if d != nil {
					o.remove(d) // as the session does, finishing it
					dropped = append(dropped, d.topic)
				}
			}
			require.Equal(t, tt.wantKept, queuedTopics(o))
			require.Equal(t, len(tt.wantKept), o.queued)
			if tt.wantOutcomes == nil {
				tt.wantOutcomes = map[Outcome]int{}
			}
			if tt.wantErrs == nil {
				tt.wantErrs = map[error]int{}
			}
			require.Equal(t, tt.wantOutcomes, outcomes)
			require.Equal(t, tt.wantErrs, errs)
			require.Equal(t, tt.wantDropped, dropped)
		})
	}
}

func TestQueueWithoutBoundKeepsEverything(t *testing.T) {
	t.Parallel()
	o := &outbox{}
	for i := range 10000 {
		out, _, err := enqueue(o, req(i))
		require.NoError(t, err)
		require.Equal(t, Queued, out)
	}
	require.Equal(t, 10000, o.queued)
}

// Requests in flight go back to the queue in their place, so the drain
// sends everything in acceptance order; the queue's front is tracked.
func TestRequeueKeepsOrder(t *testing.T) {
	t.Parallel()
	o := &outbox{}
	l := &link{}
	a, b, c, d := req(0), req(1), req(2), req(3)
	o.pushInflight(a, l)
	o.pushInflight(b, l)
	o.pushInflight(c, l)
	o.remove(b)
	_, _, err := enqueue(o, d)
	require.NoError(t, err)
	require.Same(t, d, o.firstQueued())
	require.Equal(t, []*request{a, c}, o.requeueFrom(l))
	require.Equal(t, []string{"0", "2", "3"}, queuedTopics(o))
	require.Zero(t, o.inflight)
	require.Same(t, a, o.firstQueued())

	// The drain takes the front, one at a time.
	o.markInflight(a, l)
	require.Same(t, c, o.firstQueued())
	o.remove(c) // e.g. rejected
	require.Same(t, d, o.firstQueued())
	o.markInflight(d, l)
	require.Nil(t, o.firstQueued())
	require.Equal(t, 2, o.inflight)
}

// A full bounded queue with DropOldest never drops what is in flight.
func TestDropOldestSkipsInflight(t *testing.T) {
	t.Parallel()
	o := &outbox{limit: 1, drop: DropOldest}
	a := req(0)
	o.pushInflight(a, &link{})
	_, _, err := enqueue(o, req(1))
	require.NoError(t, err)
	out, dropped, err := enqueue(o, req(2))
	require.NoError(t, err)
	require.Equal(t, QueuedDroppedOldest, out)
	require.Equal(t, "1", dropped.topic)
	o.remove(dropped)
	require.Equal(t, stateInflight, a.state)
	require.Equal(t, []string{"2"}, queuedTopics(o))
}

func TestDoneUpToFollowsAcceptanceOrder(t *testing.T) {
	t.Parallel()
	o := &outbox{}
	l := &link{}
	a, b, c := req(0), req(1), req(2)
	o.pushInflight(a, l)
	_, _, err := enqueue(o, b)
	require.NoError(t, err)
	require.False(t, o.doneUpTo(a.seq))
	o.remove(a)
	require.True(t, o.doneUpTo(a.seq), "a later request does not hold back an earlier prefix")
	require.False(t, o.doneUpTo(b.seq))
	o.pushInflight(c, l)
	o.markInflight(b, l)
	o.remove(b)
	require.True(t, o.doneUpTo(b.seq))
	require.False(t, o.doneUpTo(c.seq))
}
