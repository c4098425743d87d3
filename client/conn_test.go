package client

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deadlineConn records the write deadlines set on it.
type deadlineConn struct {
	net.Conn
	writeDeadlines []time.Time
}

func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.writeDeadlines = append(d.writeDeadlines, t)
	return nil
}

// paho's write deadline (its now plus WriteTimeout, handOffTimeout) becomes
// the client's write-stall bound from that same now; a cleared deadline
// stays cleared.
func TestBreakableConnReplacesPahosWriteDeadlineWithTheStallBound(t *testing.T) {
	inner := &deadlineConn{}
	b := &breakableConn{Conn: inner, stall: 5 * time.Second}
	pahoNow := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	require.NoError(t, b.SetWriteDeadline(pahoNow.Add(handOffTimeout)))
	require.NoError(t, b.SetWriteDeadline(time.Time{}))
	require.Equal(t, []time.Time{pahoNow.Add(5 * time.Second), {}}, inner.writeDeadlines)
}
