package client

import (
	"math/rand/v2"
	"time"
)

// backoff computes the waits between reconnect attempts: base, then
// min(base·2ⁿ, max), returning to base once a connection has stayed up for
// the stable time. It is not safe for concurrent use; the connection owner
// goroutine holds it.
type backoff struct {
	base, max, stable time.Duration
	jitter            float64        // 0..1: each wait is reduced by up to this fraction
	random            func() float64 // [0,1); replaced in tests
	n                 int            // waits since the last reset
}

func newBackoff(cfg *Config) *backoff {
	return &backoff{
		base:   cfg.BackoffBase,
		max:    cfg.BackoffMax,
		stable: cfg.StableConnectionTime,
		jitter: cfg.BackoffJitter,
		random: rand.Float64,
	}
}

// next returns the wait before the next attempt and advances the sequence.
func (b *backoff) next() time.Duration {
	d := b.base
	for i := 0; i < b.n && d < b.max; i++ {
		if d > b.max/2 {
			d = b.max
			break
		}
		d *= 2
	}
	d = min(d, b.max)
	if b.n < 64 {
		b.n++
	}
	if b.jitter > 0 {
		d -= time.Duration(b.jitter * b.random() * float64(d))
	}
	return d
}

// connectionLost is told how long the lost connection had been up; a stable
// connection resets the sequence to base.
func (b *backoff) connectionLost(upFor time.Duration) {
	if upFor >= b.stable {
		b.n = 0
	}
}
