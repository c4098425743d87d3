package integration_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// Tolerances for attempt times measured on the wire. Attempts keep to a
// schedule counted from the loss, and a timer never fires early, so an
// attempt can be late (by scheduling delay on a loaded 2-core machine: tens
// of ms at worst) but not early, and lateness does not accumulate. A gap
// between two attempts can be shorter than its wait by the lateness of the
// first.
const (
	offsetTolerance = 80 * time.Millisecond
	gapTolerance    = 80 * time.Millisecond
)

// cutAndWatch hangs up on new connections, cuts the link, and returns the
// time of the cut as the proxy recorded it.
func cutAndWatch(t *testing.T, e *env, c *client.Client) (time.Time, uint64) {
	t.Helper()
	mark := e.Events.Seq()
	e.Proxy.SetFault(broker.HangUp, true)
	e.Proxy.CutLinks(broker.FIN)
	cut, err := e.Events.WaitFor(testenv.Context(t), broker.Match{Fault: broker.FaultCut, After: mark})
	require.NoError(t, err)
	return cut.At, cut.Seq
}

// checkSchedule asserts that connection attempts (proxy accepts) came at the
// expected waits after the cut — exactly in virtual time, within the
// tolerances above on the wire — and logs measured against expected.
func checkSchedule(t *testing.T, e *env, phase string, cut time.Time, attempts []broker.Event, waits []time.Duration) {
	t.Helper()
	require.Len(t, attempts, len(waits))
	if e.virtual {
		var want, got []time.Duration
		var at time.Duration
		for i, a := range attempts {
			at += waits[i]
			want, got = append(want, at), append(got, a.At.Sub(cut))
		}
		require.Equal(t, want, got, "%s: attempts after the cut", phase)
		return
	}
	prev, expected := cut, time.Duration(0)
	for i, a := range attempts {
		gap := a.At.Sub(prev)
		expected += waits[i]
		offset := a.At.Sub(cut)
		t.Logf("%s attempt %d: wait %v (expected %v), offset %v (expected %v)", phase, i+1,
			gap.Round(100*time.Microsecond), waits[i], offset.Round(100*time.Microsecond), expected)
		require.GreaterOrEqual(t, offset, expected-time.Millisecond, "%s attempt %d came early", phase, i+1)
		require.LessOrEqual(t, offset, expected+offsetTolerance, "%s attempt %d came late", phase, i+1)
		require.InDelta(t, float64(waits[i]), float64(gap), float64(gapTolerance), "%s attempt %d: wait", phase, i+1)
		prev = a.At
	}
}

// Back-off 100 ms / 800 ms / stable 1 s: attempts after a cut wait 100,
// 200, 400, 800, 800 ms; a connection that drops before the stable time
// does not reset the wait; one that stays up for it does.
func TestBackoffScheduleOnTheWire(t *testing.T) { scenario(t, backoffSchedule) }

func backoffSchedule(t *testing.T, e *env) {
	ctx := testenv.Context(t)
	c := e.connect(e.config("backoff"))

	// A: an outage from a stable connection. Five attempts are hung up on;
	// the sixth connects.
	cut, mark := cutAndWatch(t, e, c)
	failed, err := e.Events.WaitForN(ctx, 5, broker.Match{Kind: broker.KindAccept, After: mark})
	require.NoError(t, err)
	e.Proxy.SetFault(broker.HangUp, false)
	all, err := e.Events.WaitForN(ctx, 6, broker.Match{Kind: broker.KindAccept, After: mark})
	require.NoError(t, err)
	require.Equal(t, failed, all[:5])
	checkSchedule(t, e, "outage", cut, all, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 800 * ms, 800 * ms})
	testenv.WaitStatus(t, c, client.StatusStable)

	// B: the connection drops before the stable time: the wait goes on
	// from where it was (800 ms), it does not reset to 100 ms.
	cut, mark = cutAndWatch(t, e, c)
	e.Proxy.SetFault(broker.HangUp, false)
	next, err := e.Events.WaitFor(ctx, broker.Match{Kind: broker.KindAccept, After: mark})
	require.NoError(t, err)
	checkSchedule(t, e, "unstable", cut, []broker.Event{next}, []time.Duration{800 * ms})
	testenv.WaitStatus(t, c, client.StatusStable)

	// C: the connection stays up for the stable time: the wait resets.
	// (A deliberate pause: the scenario is "a connection that lasts"; in
	// virtual time it costs nothing.)
	time.Sleep(time.Second + 200*ms)
	cut, mark = cutAndWatch(t, e, c)
	failed, err = e.Events.WaitForN(ctx, 2, broker.Match{Kind: broker.KindAccept, After: mark})
	require.NoError(t, err)
	e.Proxy.SetFault(broker.HangUp, false)
	all, err = e.Events.WaitForN(ctx, 3, broker.Match{Kind: broker.KindAccept, After: mark})
	require.NoError(t, err)
	checkSchedule(t, e, "after stable", cut, all, []time.Duration{100 * ms, 200 * ms, 400 * ms})
	require.Equal(t, failed, all[:2])
	testenv.WaitStatus(t, c, client.StatusStable)
}

const ms = time.Millisecond
