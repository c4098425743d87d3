package memnet

import (
	"bytes"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Conn is one end of an in-memory TCP connection, made by
// [Network.DialContext] or [Listener.Accept]. It is a net.Conn, safe for
// concurrent use (any number of readers, writers, Close and deadline setters).
//
// Write copies the bytes into the peer's unbounded receive buffer and
// returns at once: it never blocks. Read blocks, durably in a bubble, until
// there is data, the peer closes or resets the connection, the Conn is
// closed, or the read deadline passes.
//
// The errors mimic Linux loosely; apart from io.EOF (returned bare, as the
// net package does) each is a *net.OpError (Op "read", "write", "close" or
// "set"):
//
//   - Close is a FIN: the peer reads what was written before it, then
//     io.EOF (for good: it had the FIN first). The closing end's own later
//     calls fail with net.ErrClosed ("use of closed network connection"),
//     and so does a second Close. Unread received data is discarded (Linux
//     would send a RST then; memnet keeps Close a FIN, use SetLinger(0) for a
//     RST).
//   - After the peer's Close, the first non-empty Write succeeds and its data
//     is discarded (on Linux the peer's kernel answers it with a RST); every
//     later Write fails with syscall.EPIPE.
//   - SetLinger(0) then Close is a RST: the peer's data not yet read is
//     discarded, and its every later Read and Write fails at once with
//     syscall.ECONNRESET. So is closing a Listener whose backlog holds the
//     connection, for the dialler.
//   - Deadlines are as in the net package: a zero time clears, a time in the
//     past fails a blocked call and later ones at once, a new deadline may be
//     set after one passed. The error wraps os.ErrDeadlineExceeded and its
//     Timeout method reports true. As writes never block, a write deadline
//     only fails writes made after it. Deadlines are timers: in a bubble they
//     follow the fake clock.
type Conn struct {
	mu           *sync.Mutex // shared by both ends; guards the fields below it
	peer         *Conn
	laddr, raddr *net.TCPAddr

	buf    bytes.Buffer // received, not yet read
	eof    bool         // the peer closed: Read drains buf, then io.EOF
	reset  bool         // the peer reset: Read and Write fail with ECONNRESET
	closed bool         // Close was called
	broken bool         // a write after the peer's close was discarded: EPIPE now
	linger int          // as set by SetLinger; 0 makes Close a RST

	ready   chan struct{} // a token when buf, eof or reset may have changed
	done    chan struct{} // closed by Close
	rd, wd  deadline
	release func() // frees the dialler's local port, or nil
}

func newPair(dialler, listener *net.TCPAddr) (d, a *Conn) {
	mu := new(sync.Mutex)
	d = newConn(mu, dialler, listener)
	a = newConn(mu, listener, dialler)
	d.peer, a.peer = a, d
	return d, a
}

func newConn(mu *sync.Mutex, laddr, raddr *net.TCPAddr) *Conn {
	return &Conn{
		mu:     mu,
		laddr:  laddr,
		raddr:  raddr,
		linger: -1,
		ready:  make(chan struct{}, 1),
		done:   make(chan struct{}),
		rd:     deadline{expired: make(chan struct{})},
		wd:     deadline{expired: make(chan struct{})},
	}
}

// Read reads received data into p. It blocks until some is there, or the
// peer has closed (io.EOF) or reset (ECONNRESET) the connection, c is
// closed (net.ErrClosed) or the read deadline passes (os.ErrDeadlineExceeded).
func (c *Conn) Read(p []byte) (int, error) {
	for {
		expired, passed := c.rd.wait()
		c.mu.Lock()
		n, ok, err := c.readLocked(p, passed)
		readable := c.buf.Len() > 0 || c.eof || c.reset
		c.mu.Unlock()
		if ok {
			if readable {
				notify(c.ready) // for a concurrent Read
			}
			return n, err
		}
		select {
		case <-c.ready:
		case <-c.done:
		case <-expired:
		}
	}
}

// readLocked is one attempt of Read; ok is false if it must wait. c.mu is
// held.
func (c *Conn) readLocked(p []byte, expired bool) (n int, ok bool, err error) {
	switch {
	case c.closed:
		return 0, true, c.opErr("read", net.ErrClosed)
	case expired:
		return 0, true, c.opErr("read", os.ErrDeadlineExceeded)
	case len(p) == 0:
		return 0, true, nil
	case c.reset:
		return 0, true, c.opErr("read", os.NewSyscallError("read", syscall.ECONNRESET))
	case c.buf.Len() > 0:
		n, _ = c.buf.Read(p)
		if c.buf.Len() == 0 && c.buf.Cap() > 1<<20 {
			c.buf = bytes.Buffer{} // don't keep a burst's memory
		}
		return n, true, nil
	case c.eof:
		return 0, true, io.EOF
	}
	return 0, false, nil
}

// Write sends p to the peer. It never blocks: it copies p and returns
// len(p), nil, unless c is closed (net.ErrClosed), the write deadline has
// passed (os.ErrDeadlineExceeded), the peer reset the connection
// (ECONNRESET) or closed it (EPIPE, from the second write after the close
// on).
func (c *Conn) Write(p []byte) (int, error) {
	_, expired := c.wd.wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return 0, c.opErr("write", net.ErrClosed)
	case expired:
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	case c.reset:
		return 0, c.opErr("write", os.NewSyscallError("write", syscall.ECONNRESET))
	case c.broken:
		return 0, c.opErr("write", os.NewSyscallError("write", syscall.EPIPE))
	case len(p) == 0:
		return 0, nil
	case c.peer.closed:
		c.broken = true // the peer's RST comes back
		return len(p), nil
	}
	c.peer.buf.Write(p)
	notify(c.peer.ready)
	return len(p), nil
}

// Close closes the connection: a FIN, or a RST after SetLinger(0). Blocked
// Read calls return net.ErrClosed. Closing twice is an error wrapping
// net.ErrClosed.
func (c *Conn) Close() error { return c.shut(false) }

// shut closes c, sending a RST if rst or the linger is 0.
func (c *Conn) shut(rst bool) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opErr("close", net.ErrClosed)
	}
	c.closed = true
	c.buf = bytes.Buffer{}
	p := c.peer
	if rst || c.linger == 0 {
		if !p.closed {
			p.reset = true
			p.buf = bytes.Buffer{}
		}
	} else {
		p.eof = true
	}
	c.mu.Unlock()
	notify(p.ready)
	close(c.done)
	c.rd.stop()
	c.wd.stop()
	if c.release != nil {
		c.release()
	}
	return nil
}

// SetLinger sets what Close does, with the signature of
// net.TCPConn.SetLinger: sec == 0 makes it a RST (the peer's Read fails with
// ECONNRESET at once, its unread data discarded); sec < 0 (the default) and
// sec > 0 make it a FIN, as all written data is delivered already.
func (c *Conn) SetLinger(sec int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opErr("set", net.ErrClosed)
	}
	c.linger = sec
	return nil
}

// LocalAddr returns this end's address, a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address, a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets both the read and the write deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the time after which Read fails with
// os.ErrDeadlineExceeded, blocked calls included; zero means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the time after which Write fails with
// os.ErrDeadlineExceeded; zero means none.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	c.wd.set(t)
	return nil
}

func (c *Conn) checkOpen() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return c.opErr("set", net.ErrClosed)
	}
	return nil
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// deadline is a settable point in time, signalled by closing a channel; a
// timer closes it, so in a bubble it follows the fake clock.
type deadline struct {
	mu      sync.Mutex
	timer   *time.Timer
	at      time.Time     // the deadline, or zero
	expired chan struct{} // closed once the deadline has passed
	stopped bool          // the Conn is closed: no more timers
}

// wait returns a channel that is closed when the deadline passes (if it is
// not changed to a later one before), and whether it has passed: at its very
// instant it has, even if the timer's function has not run yet.
func (d *deadline) wait() (ch <-chan struct{}, passed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired, isClosed(d.expired) || !d.at.IsZero() && !time.Now().Before(d.at)
}

// set sets the deadline to t; zero means none.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return
	}
	if d.timer != nil && !d.timer.Stop() {
		<-d.expired // the timer fired: wait until its function closed it
	}
	d.timer = nil
	d.at = t
	passed := isClosed(d.expired)
	if t.IsZero() {
		if passed {
			d.expired = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if passed {
			d.expired = make(chan struct{})
		}
		ch := d.expired
		d.timer = time.AfterFunc(dur, func() { close(ch) })
		return
	}
	if !passed {
		close(d.expired)
	}
}

// stop cancels the timer for good.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
