package broker

import (
	"bytes"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// keepaliveConn is the connection the broker hands mochi. mochi sets a
// client's deadline to keepalive + keepalive/2 in whole seconds
// (clients.go:262-266), so a keepalive of 1 s allows 1 s of silence
// instead of the 1.5 s MQTT allows (MQTT-3.1.2-24), and every odd keepalive
// loses half a second. keepaliveConn replaces each deadline mochi sets with
// exactly 1.5 times the client's keepalive from now (on the profile's
// clock), and lets the profile say goodbye to an MQTT 5 client that timed
// out.
type keepaliveConn struct {
	net.Conn
	// deadline is 1.5 × the client's effective keepalive, set by
	// keepaliveHook from the CONNECT; 0 until then. mochi sets it and the
	// deadlines on the client's own goroutine.
	deadline time.Duration
	// onTimeout, if set, runs once when a read times out, before mochi
	// closes the connection.
	onTimeout func()
	once      sync.Once
	// attached tells the server's attachGate that mochi has attached the
	// connection (it first reads it or sets its deadline).
	attached func()
}

// SetDeadline sets the read and write deadlines: 1.5 × keepalive from now
// for any deadline mochi asks for once the keepalive is known.
func (c *keepaliveConn) SetDeadline(t time.Time) error {
	c.attached()
	if !t.IsZero() && c.deadline > 0 {
		t = time.Now().Add(c.deadline)
	}
	return c.Conn.SetDeadline(t)
}

// Read reads, and on a keepalive timeout runs onTimeout with a fresh write
// deadline.
func (c *keepaliveConn) Read(p []byte) (int, error) {
	c.attached()
	n, err := c.Conn.Read(p)
	if err != nil && c.onTimeout != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.once.Do(func() {
			_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			c.onTimeout()
		})
	}
	return n, err
}

// Underlying returns the connection under the keepalive correction.
func (c *keepaliveConn) Underlying() net.Conn { return c.Conn }

// newKeepaliveConn makes the connection handed to mochi, or returns false
// when gate is closing.
func newKeepaliveConn(c net.Conn, gate *attachGate) (*keepaliveConn, bool) {
	attached, ok := gate.admit()
	if !ok {
		return nil, false
	}
	return &keepaliveConn{Conn: c, attached: attached}, true
}

// keepaliveListener hands out its connections as keepaliveConns, as the
// profile needs them (profiledConn).
type keepaliveListener struct {
	net.Listener
	profile *Profile
	gate    *attachGate
}

func (l keepaliveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	kc, ok := newKeepaliveConn(profiledConn(c, l.profile), l.gate)
	if !ok {
		c.Close()
		return nil, net.ErrClosed
	}
	return kc, nil
}

// keepaliveHook tells each client's keepaliveConn the keepalive mochi uses
// for it, clamped as AWS IoT Core clamps it under a profile. mochi runs
// OnConnect after parsing the CONNECT and before it first sets the
// deadline from the keepalive (server.go:437-442).
type keepaliveHook struct {
	mqtt.HookBase
	profile *Profile // nil: plain MQTT
}

func (h *keepaliveHook) ID() string { return "iotmqtt-keepalive" }

func (h *keepaliveHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect}, []byte{b})
}

func (h *keepaliveHook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	c, ok := cl.Net.Conn.(*keepaliveConn)
	if !ok {
		return nil
	}
	scale := 1.0
	if p := h.profile; p != nil {
		cl.State.Keepalive = p.clampKeepalive(cl.State.Keepalive)
		cl.State.ServerKeepalive = true // an MQTT 5 CONNACK says what AWS uses
		scale = p.TimeScale
		if cl.Properties.ProtocolVersion == 5 {
			c.onTimeout = func() { // AWS's DISCONNECT 0x8D "Keep Alive timeout"
				_ = cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: packets.ErrKeepAliveTimeout.Code})
			}
		}
	}
	c.deadline = time.Duration(float64(cl.State.Keepalive) * 1.5 * float64(time.Second) * scale)
	return nil
}

// clampKeepalive returns the keepalive AWS IoT Core uses for one a client
// asked for: 0 and more than MaxKeepalive become MaxKeepalive, less than
// MinKeepalive becomes MinKeepalive.
func (p *Profile) clampKeepalive(asked uint16) uint16 {
	switch {
	case p.MaxKeepalive > 0 && (asked == 0 || asked > p.MaxKeepalive):
		return p.MaxKeepalive
	case asked > 0 && asked < p.MinKeepalive:
		return p.MinKeepalive
	}
	return asked
}
