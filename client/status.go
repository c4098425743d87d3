package client

import (
	"context"
	"fmt"
)

// Status is where the client is in its connection life.
type Status int

const (
	// StatusIdle: not connected and not trying (before Connect, after
	// Disconnect, or after a failed first Connect). Requests are refused
	// with ErrNotConnected.
	StatusIdle Status = iota
	// StatusConnecting: connecting, or waiting out the back-off before the
	// next attempt. Requests are queued.
	StatusConnecting
	// StatusRecovering: connected, renewing subscriptions and draining the
	// offline queue. New requests join the queue's tail.
	StatusRecovering
	// StatusStable: connected with nothing queued. Requests go straight out.
	StatusStable
	// StatusStopping: Disconnect has been called and the client is
	// stopping; requests are refused with ErrNotConnected, and Connect with
	// ErrDisconnecting, until it is idle.
	StatusStopping
)

// String names the status.
func (s Status) String() string {
	switch s {
	case StatusIdle:
		return "idle"
	case StatusConnecting:
		return "connecting"
	case StatusRecovering:
		return "recovering"
	case StatusStable:
		return "stable"
	case StatusStopping:
		return "stopping"
	default:
		return fmt.Sprintf("Status(%d)", int(s))
	}
}

// Status returns the client's connection status.
func (c *Client) Status() Status {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.status
}

// WaitStatus waits until the client's status is want, or until ctx ends
// (then it returns ErrTimeout for a deadline, or the context's error). It
// returns at once if the status is want already.
func (c *Client) WaitStatus(ctx context.Context, want Status) error {
	for {
		c.s.mu.Lock()
		st, changed := c.s.status, c.s.changed
		c.s.mu.Unlock()
		if st == want {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctxError(ctx, fmt.Sprintf("waiting for status %v (status %v)", want, st))
		}
	}
}
