package broker

import (
	"net"
	"sync"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// AWS IoT Core requires a client to wait for the CONNACK before it sends
// anything else (mqtt.md, "AWS IoT differences from MQTT specifications";
// Profile.EarlyPackets). mochi cannot tell: it reads the packets a client
// pipelined after its CONNECT only once it has written the CONNACK. A
// connectWatch reads the connection ahead of mochi until the broker first
// writes to it, so the profile knows how many bytes had come by then:
// anything beyond the CONNECT was sent before the client could have seen
// the CONNACK. (Bytes still in flight when the CONNACK is written go
// unnoticed; nothing sent after the CONNACK arrived is ever counted.)

// profiledConn is c as the profile needs it: shaped to its throughput,
// and read ahead until the CONNACK if it closes the link for packets sent
// before it.
func profiledConn(c net.Conn, p *Profile) net.Conn {
	c = shape(c, p)
	if p != nil && p.EarlyPackets == Close {
		c = watchConnect(c)
	}
	return c
}

// maxReadAhead bounds what a connectWatch holds for mochi.
const maxReadAhead = 1 << 20

// connectWatch is a connection read ahead until its first write.
type connectWatch struct {
	net.Conn
	written atomic.Bool // the broker has written: read ahead no more
	drained atomic.Bool // the read-ahead is over and read: Read reads the connection

	mu         sync.Mutex
	arrived    sync.Cond // read ahead, or the reading ahead ended
	pending    []byte    // read ahead, not yet read by mochi
	err        error     // the read-ahead's error, for mochi's next Read
	ahead      bool      // the read-ahead goroutine runs
	received   int       // bytes read ahead in all
	beforeSent int       // received when the broker first wrote
}

// watchConnect starts reading c ahead.
func watchConnect(c net.Conn) *connectWatch {
	w := &connectWatch{Conn: c, ahead: true}
	w.arrived.L = &w.mu
	go w.readAhead()
	return w
}

// readAhead reads the client's bytes as they arrive, until the broker
// writes, the connection fails, or maxReadAhead wait for mochi.
func (w *connectWatch) readAhead() {
	b := make([]byte, 4096) // each read is copied to pending
	for {
		n, err := w.Conn.Read(b)
		w.mu.Lock()
		w.pending = append(w.pending, b[:n]...)
		w.received += n
		w.err = err
		stop := err != nil || w.written.Load() || len(w.pending) >= maxReadAhead
		w.ahead = !stop
		w.arrived.Broadcast()
		w.mu.Unlock()
		if stop {
			return
		}
	}
}

// Read returns what was read ahead, then reads the connection itself
// (without the lock, once all that was read ahead is read).
func (w *connectWatch) Read(p []byte) (int, error) {
	if w.drained.Load() {
		return w.Conn.Read(p)
	}
	w.mu.Lock()
	for len(w.pending) == 0 && w.err == nil && w.ahead {
		w.arrived.Wait()
	}
	switch {
	case len(w.pending) > 0:
		n := copy(p, w.pending)
		w.pending = w.pending[n:]
		w.mu.Unlock()
		return n, nil
	case w.err != nil:
		err := w.err
		w.err = nil
		w.mu.Unlock()
		return 0, err
	}
	w.drained.Store(true) // the read-ahead has ended, and everything it read is read
	w.mu.Unlock()
	return w.Conn.Read(p)
}

// Write notes, on the broker's first write (the CONNACK), how much the
// client had sent by then.
func (w *connectWatch) Write(p []byte) (int, error) {
	if !w.written.Load() {
		w.mu.Lock()
		if !w.written.Load() {
			w.beforeSent = w.received
			w.written.Store(true)
		}
		w.mu.Unlock()
	}
	return w.Conn.Write(p)
}

// Underlying returns the connection read ahead.
func (w *connectWatch) Underlying() net.Conn { return w.Conn }

// sentBeforeConnack returns how many bytes the client sent after its
// CONNECT (whose fixed header is given) and before the broker's first
// write.
func (w *connectWatch) sentBeforeConnack(connect packets.FixedHeader) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(0, w.beforeSent-packetSize(connect))
}

// packetSize is the size on the wire of a packet with fixed header fh.
func packetSize(fh packets.FixedHeader) int {
	n := 2 // the type byte and the last byte of the remaining length
	for r := fh.Remaining; r >= 128; r >>= 7 {
		n++
	}
	return n + fh.Remaining
}
