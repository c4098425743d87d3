package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

// ALPN protocols AWS IoT expects on port 443: MQTT with client
// certificates, and MQTT with a custom authorizer.
const (
	alpnMQTTCA = "x-amzn-mqtt-ca"
	alpnMQTT   = "mqtt"
)

// errLinkBroken is what a deliberately broken connection reads.
var errLinkBroken = errors.New("client: connection abandoned")

// breakableConn is the net.Conn under paho. It can be failed on purpose:
// paho ignores "use of closed network connection" (it assumes it closed the
// socket itself), so a plain Close would only be noticed by keepalive. And
// it owns the write-stall bound: paho's write deadline (its WriteTimeout,
// which also bounds paho's hand-off, see handOffTimeout) is replaced by
// the client's own, stall.
type breakableConn struct {
	net.Conn
	stall  time.Duration // the longest a write may block before the connection is given up
	broken atomic.Bool
}

func (b *breakableConn) Read(p []byte) (int, error) {
	n, err := b.Conn.Read(p)
	if err != nil && b.broken.Load() {
		return n, errLinkBroken
	}
	return n, err
}

// SetWriteDeadline applies the client's write-stall bound where paho asks
// for its own. paho asks for now plus its WriteTimeout (handOffTimeout,
// pahoOptions), so the bound counts from paho's now: no second clock read
// per packet.
func (b *breakableConn) SetWriteDeadline(t time.Time) error {
	if !t.IsZero() {
		t = t.Add(b.stall - handOffTimeout)
	}
	return b.Conn.SetWriteDeadline(t)
}

func (b *breakableConn) breakNow() {
	b.broken.Store(true)
	b.Conn.Close()
}

// endpoint returns "host:port".
func (c *Client) endpoint() string {
	return net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port))
}

// dialFunc returns the configured socket factory, or a plain TCP dialer.
func (c *Client) dialFunc() DialFunc {
	if c.cfg.Dialer != nil {
		return c.cfg.Dialer
	}
	return (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
}

// openConn opens the transport: TCP (through the configured dialer) with
// TLS verifying the configured host name, or WebSocket over that.
func (c *Client) openConn(ctx context.Context) (*breakableConn, error) {
	if c.cfg.UseWebsocket {
		ws, err := c.openWebsocket(ctx)
		if err != nil {
			return nil, err
		}
		return &breakableConn{Conn: ws, stall: c.cfg.OperationTimeout}, nil
	}
	raw, err := c.dialFunc()(ctx, "tcp", c.endpoint())
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", c.endpoint(), err)
	}
	tc := tls.Client(raw, c.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", c.endpoint(), err)
	}
	return &breakableConn{Conn: tc, stall: c.cfg.OperationTimeout}, nil
}
