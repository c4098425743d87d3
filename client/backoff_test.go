package client

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const s = time.Second

// step is one event in a back-off scenario: a failed attempt ("wait" is the
// wait before the next attempt), or a connection that stayed up for upFor.
type step struct {
	upFor time.Duration // > 0: a connection was up this long, then lost
	want  time.Duration // the wait returned after this step
}

func TestBackoffSequence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		base, max, stable time.Duration
		steps             []step
	}{
		{
			// The seed's setting: an outage from a stable state waits
			// 1, 2, 4, 8, 16, 32, 32 s before each attempt.
			name: "basicPubSub 1/32/20", base: 1 * s, max: 32 * s, stable: 20 * s,
			steps: []step{{want: 1 * s}, {want: 2 * s}, {want: 4 * s}, {want: 8 * s}, {want: 16 * s}, {want: 32 * s}, {want: 32 * s}},
		},
		{
			// Python test_progressive_back_off_core: configTime(1, 32, 20):
			// current is 2 after the first backOff and 4 after the second.
			name: "python: doubles", base: 1 * s, max: 32 * s, stable: 20 * s,
			steps: []step{{want: 1 * s}, {want: 2 * s}, {want: 4 * s}},
		},
		{
			// configTime(1, 32, 5): two backOffs, then a connection stable
			// for 6 s resets to base.
			name: "python: stable connection resets", base: 1 * s, max: 32 * s, stable: 5 * s,
			steps: []step{{want: 1 * s}, {want: 2 * s}, {upFor: 6 * s, want: 1 * s}},
		},
		{
			// configTime(1, 32, 5): one backOff, a connection up 4 s (less
			// than stable), then the next wait keeps doubling.
			name: "python: short connection does not reset", base: 1 * s, max: 32 * s, stable: 5 * s,
			steps: []step{{want: 1 * s}, {upFor: 4 * s, want: 2 * s}, {want: 4 * s}},
		},
		{
			// Python integration test ProgressiveBackoff (1, 16, 60): the
			// connected period before each failure grows 3, 4, 6, 10, 18,
			// 34, 66 s; failure to reconnect takes 1, 2, 4, 8, 16, 16, 1 s.
			name: "python integration 1/16/60", base: 1 * s, max: 16 * s, stable: 60 * s,
			steps: []step{{upFor: 3 * s, want: 1 * s}, {upFor: 4 * s, want: 2 * s}, {upFor: 6 * s, want: 4 * s},
				{upFor: 10 * s, want: 8 * s}, {upFor: 18 * s, want: 16 * s}, {upFor: 34 * s, want: 16 * s}, {upFor: 66 * s, want: 1 * s}},
		},
		{
			// Unlike the Python SDK, the first wait is base, not 1 s.
			name: "base is the first wait", base: 2 * s, max: 32 * s, stable: 20 * s,
			steps: []step{{want: 2 * s}, {want: 4 * s}, {want: 8 * s}},
		},
		{
			name: "scaled for tests", base: 100 * time.Millisecond, max: 800 * time.Millisecond, stable: time.Second,
			steps: []step{{want: 100 * time.Millisecond}, {want: 200 * time.Millisecond}, {want: 400 * time.Millisecond},
				{want: 800 * time.Millisecond}, {want: 800 * time.Millisecond}, {upFor: 999 * time.Millisecond, want: 800 * time.Millisecond},
				{upFor: time.Second, want: 100 * time.Millisecond}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &backoff{base: tt.base, max: tt.max, stable: tt.stable}
			for i, st := range tt.steps {
				if st.upFor > 0 {
					b.connectionLost(st.upFor)
				}
				require.Equal(t, st.want, b.next(), "step %d", i)
			}
		})
	}
}

func TestBackoffDoesNotOverflow(t *testing.T) {
	t.Parallel()
	b := &backoff{base: time.Nanosecond, max: time.Duration(1<<63 - 1), stable: time.Hour}
	var last time.Duration
	for range 200 {
		d := b.next()
		require.Positive(t, d)
		require.GreaterOrEqual(t, d, last)
		last = d
	}
}

func TestBackoffJitter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		jitter, random float64
		want           time.Duration
	}{
		{0, 0.99, 4 * s},
		{0.5, 0, 4 * s},
		{0.5, 0.5, 3 * s},
		{1, 0.75, 1 * s},
	}
	for _, tt := range tests {
		b := &backoff{base: 4 * s, max: 32 * s, stable: 60 * s, jitter: tt.jitter, random: func() float64 { return tt.random }}
		require.Equal(t, tt.want, b.next(), "jitter %v random %v", tt.jitter, tt.random)
	}
}
