package broker

import (
	"bytes"
	"net"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// keepaliveConn is the connection the broker hands mochi. mochi sets a
// client's deadline to keepalive + keepalive/2 in whole seconds
// (clients.go:262-266), so a keepalive of 1 s allows 1 s of silence
// instead of the 1.5 s MQTT allows (MQTT-3.1.2-24), and every odd keepalive
// loses half a second. keepaliveConn replaces each deadline mochi sets with
// exactly 1.5 times the client's keepalive from now.
type keepaliveConn struct {
	net.Conn
	// keepalive is the client's keepalive in seconds, set by keepaliveHook
	// from the CONNECT. mochi sets it and the deadlines on the client's
	// own goroutine.
	keepalive uint16
}

// SetDeadline sets the read and write deadlines: 1.5 × keepalive from now
// for any deadline mochi asks for once the keepalive is known.
func (c *keepaliveConn) SetDeadline(t time.Time) error {
	if !t.IsZero() && c.keepalive > 0 {
		t = time.Now().Add(time.Duration(c.keepalive) * 1500 * time.Millisecond)
	}
	return c.Conn.SetDeadline(t)
}

// Underlying returns the connection under the keepalive correction.
func (c *keepaliveConn) Underlying() net.Conn { return c.Conn }

// keepaliveListener hands out its connections as keepaliveConns.
type keepaliveListener struct{ net.Listener }

func (l keepaliveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &keepaliveConn{Conn: c}, nil
}

// keepaliveHook tells each client's keepaliveConn the keepalive mochi uses
// for it. mochi runs OnConnect after parsing the CONNECT and before it
// first sets the deadline from the keepalive (server.go:437-442).
type keepaliveHook struct{ mqtt.HookBase }

func (h *keepaliveHook) ID() string { return "iotmqtt-keepalive" }

func (h *keepaliveHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect}, []byte{b})
}

func (h *keepaliveHook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	if c, ok := cl.Net.Conn.(*keepaliveConn); ok {
		c.keepalive = cl.State.Keepalive
	}
	return nil
}
