package broker_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

func addN(r *broker.Recorder, n int) {
	for i := range n {
		broker.AddEvent(r, broker.Event{Kind: broker.KindPublish, Topic: fmt.Sprint(i)})
	}
}

func seqs(evs []broker.Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func TestRecorderAfterBeyondInt64(t *testing.T) {
	t.Parallel()
	r := broker.NewRecorder()
	addN(r, 3)
	for _, after := range []uint64{1 << 63, math.MaxUint64} {
		require.Empty(t, r.Events(broker.Match{After: after}))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		_, err := r.WaitFor(ctx, broker.Match{After: after})
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
}

func TestRecorderSurvivesAPanickingWhere(t *testing.T) {
	t.Parallel()
	r := broker.NewRecorder()
	addN(r, 1)
	require.Panics(t, func() {
		_, _ = r.WaitFor(testenv.Context(t), broker.Match{Where: func(broker.Event) bool { panic("boom") }})
	})
	added := make(chan struct{})
	go func() {
		defer close(added)
		addN(r, 1)
	}()
	select {
	case <-added:
	case <-testenv.Context(t).Done():
		t.Fatal("the recorder's lock is still held after the panic")
	}
	require.Equal(t, uint64(2), r.Seq())
}

// A waiter examines each event once, as it arrives, however many came
// before: the test adds one event at a time and lets the waiter see it
// before adding the next.
func TestRecorderWaiterExaminesEachEventOnce(t *testing.T) {
	t.Parallel()
	r := broker.NewRecorder()
	ctx, cancel := context.WithCancel(testenv.Context(t))
	examined := make(chan uint64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = r.WaitFor(ctx, broker.Match{Where: func(e broker.Event) bool { examined <- e.Seq; return false }})
	}()
	const events = 200
	calls := 0
	for i := uint64(1); i <= events; i++ {
		addN(r, 1)
		for seq := uint64(0); seq != i; calls++ {
			seq = <-examined
		}
	}
	cancel()
	<-done
	require.Equal(t, events, calls, "Where calls for %d events", events)
}

func TestRecorderKeepsTheLatestEvents(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t)
	r := broker.NewRecorderWithLimit(10)
	addN(r, 25)
	require.Equal(t, uint64(25), r.Seq())
	require.Equal(t, uint64(15), r.Discarded())
	require.Equal(t, []uint64{16, 17, 18, 19, 20, 21, 22, 23, 24, 25}, seqs(r.Events(broker.Match{})))
	require.Equal(t, []uint64{21, 22, 23, 24, 25}, seqs(r.Events(broker.Match{After: 20})))

	_, err := r.WaitFor(ctx, broker.Match{Kind: broker.KindPublish})
	require.ErrorIs(t, err, broker.ErrEventsDiscarded, "#1 to #15 are gone: the first match cannot be known")
	require.ErrorContains(t, err, "15 event(s) after #0")
	e, err := r.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, After: 15})
	require.NoError(t, err)
	require.Equal(t, uint64(16), e.Seq)

	all := broker.NewRecorderWithLimit(0)
	addN(all, 25)
	require.Zero(t, all.Discarded())
	require.Len(t, all.Events(broker.Match{}), 25)
}

// A waiter that falls behind by more than the limit fails with
// broker.ErrEventsDiscarded instead of missing events silently.
func TestRecorderWaiterOverrunIsAnError(t *testing.T) {
	t.Parallel()
	r := broker.NewRecorderWithLimit(4)
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	errc := make(chan error, 1)
	go func() {
		_, err := r.WaitForN(testenv.Context(t), 100, broker.Match{Where: func(broker.Event) bool {
			if first {
				first = false
				close(entered)
				<-release
			}
			return true
		}})
		errc <- err
	}()
	addN(r, 1)
	<-entered // the waiter is examining #1
	addN(r, 10)
	close(release)
	err := <-errc
	require.ErrorIs(t, err, broker.ErrEventsDiscarded)
	require.ErrorContains(t, err, "6 event(s) after #1", "#2 to #7 were discarded")
}

// BenchmarkRecorderAddWithWaiter measures recording 30,000 events while one
// WaitForN waits for more than that many.
func BenchmarkRecorderAddWithWaiter(b *testing.B) {
	const events = 30000
	for b.Loop() {
		r := broker.NewRecorder()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = r.WaitForN(ctx, events+1, broker.Match{Kind: broker.KindPublish})
		}()
		addN(r, events)
		cancel()
		<-done
	}
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
}
