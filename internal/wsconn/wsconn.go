// Package wsconn carries MQTT over a WebSocket: it adapts a gorilla
// websocket connection to a net.Conn, one binary message per write, reads
// spanning message boundaries.
package wsconn

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Conn is a net.Conn over a WebSocket connection.
type Conn struct {
	ws *websocket.Conn
	r  io.Reader // the message being read, or nil

	wmu sync.Mutex // serialises writes (gorilla allows one writer)

	dmu           sync.Mutex // guards writeDeadline
	writeDeadline time.Time  // applied by Write: gorilla's own setter races with writes
}

// New wraps ws.
func New(ws *websocket.Conn) *Conn { return &Conn{ws: ws} }

// Read reads the payload of binary (or text) messages as one byte stream.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			_, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// Write sends p as one binary message.
func (c *Conn) Write(p []byte) (int, error) {
	c.dmu.Lock()
	deadline := c.writeDeadline
	c.dmu.Unlock()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.SetWriteDeadline(deadline); err != nil {
		return 0, err
	}
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the underlying connection without a closing handshake.
func (c *Conn) Close() error { return c.ws.Close() }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.ws.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.ws.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of the next writes.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.dmu.Lock()
	c.writeDeadline = t
	c.dmu.Unlock()
	return nil
}

// Underlying returns the connection the WebSocket runs on (a *tls.Conn for
// wss).
func (c *Conn) Underlying() net.Conn { return c.ws.NetConn() }
