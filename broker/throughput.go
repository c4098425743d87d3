package broker

import (
	"context"
	"net"

	"golang.org/x/time/rate"
)

// shapedConn delays what a client sends beyond the profile's Throughput
// (AWS IoT Core: 512 KiB/s per connection; "data that exceeds the maximum
// throughput is delayed in processing").
type shapedConn struct {
	net.Conn
	limit  *rate.Limiter
	ctx    context.Context // ends when the connection closes
	cancel context.CancelFunc
}

// shape returns c shaped to p's Throughput, or c itself without one.
func shape(c net.Conn, p *Profile) net.Conn {
	if p == nil || p.Throughput <= 0 {
		return c
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &shapedConn{Conn: c, limit: rate.NewLimiter(rate.Limit(float64(p.Throughput)/p.TimeScale), p.Throughput), ctx: ctx, cancel: cancel}
}

// Read reads at most a burst's worth, then waits until the bytes read fit
// the rate.
func (c *shapedConn) Read(b []byte) (int, error) {
	if len(b) > c.limit.Burst() {
		b = b[:c.limit.Burst()]
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		if werr := c.limit.WaitN(c.ctx, n); werr != nil && err == nil {
			err = net.ErrClosed
		}
	}
	return n, err
}

// Close closes the connection and ends a wait in Read.
func (c *shapedConn) Close() error {
	c.cancel()
	return c.Conn.Close()
}

// Underlying returns the connection under the shaping.
func (c *shapedConn) Underlying() net.Conn { return c.Conn }
