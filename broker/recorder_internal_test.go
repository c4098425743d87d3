package broker

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func recorderContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func addN(r *Recorder, n int) {
	for i := range n {
		r.add(Event{Kind: KindPublish, Topic: fmt.Sprint(i)})
	}
}

func seqs(evs []Event) []uint64 {
	var out []uint64
	for _, e := range evs {
		out = append(out, e.Seq)
	}
	return out
}

func TestRecorderAfterBeyondInt64(t *testing.T) {
	r := NewRecorder()
	addN(r, 3)
	for _, after := range []uint64{1 << 63, math.MaxUint64} {
		require.Empty(t, r.Events(Match{After: after}))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		_, err := r.WaitFor(ctx, Match{After: after})
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
}

func TestRecorderSurvivesAPanickingWhere(t *testing.T) {
	r := NewRecorder()
	addN(r, 1)
	require.Panics(t, func() {
		_, _ = r.WaitFor(recorderContext(t), Match{Where: func(Event) bool { panic("boom") }})
	})
	added := make(chan struct{})
	go func() {
		defer close(added)
		addN(r, 1)
	}()
	select {
	case <-added:
	case <-recorderContext(t).Done():
		t.Fatal("the recorder's lock is still held after the panic")
	}
	require.Equal(t, uint64(2), r.Seq())
}

// A waiter examines each event once, as it arrives, however many came
// before: the test adds one event at a time and lets the waiter see it
// before adding the next.
func TestRecorderWaiterExaminesEachEventOnce(t *testing.T) {
	r := NewRecorder()
	ctx, cancel := context.WithCancel(recorderContext(t))
	examined := make(chan uint64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = r.WaitFor(ctx, Match{Where: func(e Event) bool { examined <- e.Seq; return false }})
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
	ctx := recorderContext(t)
	r := NewRecorderWithLimit(10)
	addN(r, 25)
	require.Equal(t, uint64(25), r.Seq())
	require.Equal(t, uint64(15), r.Discarded())
	require.Equal(t, []uint64{16, 17, 18, 19, 20, 21, 22, 23, 24, 25}, seqs(r.Events(Match{})))
	require.Equal(t, []uint64{21, 22, 23, 24, 25}, seqs(r.Events(Match{After: 20})))

	_, err := r.WaitFor(ctx, Match{Kind: KindPublish})
	require.ErrorIs(t, err, ErrEventsDiscarded, "#1 to #15 are gone: the first match cannot be known")
	require.ErrorContains(t, err, "15 event(s) after #0")
	e, err := r.WaitFor(ctx, Match{Kind: KindPublish, After: 15})
	require.NoError(t, err)
	require.Equal(t, uint64(16), e.Seq)

	all := NewRecorderWithLimit(0)
	addN(all, 25)
	require.Zero(t, all.Discarded())
	require.Len(t, all.Events(Match{}), 25)
}

// A waiter that falls behind by more than the limit fails with
// ErrEventsDiscarded instead of missing events silently.
func TestRecorderWaiterOverrunIsAnError(t *testing.T) {
	r := NewRecorderWithLimit(4)
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	errc := make(chan error, 1)
	go func() {
		_, err := r.WaitForN(recorderContext(t), 100, Match{Where: func(Event) bool {
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
	require.ErrorIs(t, err, ErrEventsDiscarded)
	require.ErrorContains(t, err, "6 event(s) after #1", "#2 to #7 were discarded")
}

// BenchmarkRecorderAddWithWaiter measures recording 30,000 events while one
// WaitForN waits for more than that many.
func BenchmarkRecorderAddWithWaiter(b *testing.B) {
	const events = 30000
	for b.Loop() {
		r := NewRecorder()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = r.WaitForN(ctx, events+1, Match{Kind: KindPublish})
		}()
		addN(r, events)
		cancel()
		<-done
	}
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
}
