// Package memnet is an in-memory TCP network for tests, made so that a whole
// harness (broker, fault proxy, clients, TLS, WebSocket) can run inside a
// testing/synctest bubble.
//
// In a bubble, time only advances when every goroutine is durably blocked,
// and a goroutine blocked on a real socket is not: it could be woken from
// outside. A [Network] blocks only on channels it creates, so a goroutine
// blocked in [Listener.Accept] or [Conn.Read] is durably blocked, and
// deadlines are timers, so they follow the bubble's fake clock. Create the
// Network's listeners and connections, and use them, inside the bubble (or
// all outside one: everything works without a bubble too): a listener or
// connection made in a bubble belongs to it, and using it from outside
// panics, as synctest does for the bubble's channels and timers. The network
// starts no goroutines.
//
// # What it models
//
// One host: [Network.Listen] binds a port ("tcp" or "tcp4"; port 0 picks a
// free one), [Network.DialContext] connects to whatever listens on the
// address's port (the host part is not resolved and does not select
// anything), or fails with ECONNREFUSED. Each connection has its own
// addresses, as *net.TCPAddr: the dialler gets an ephemeral port, the accepted
// end sees the same two addresses swapped. A dial completes as soon as the
// connection is queued for Accept, like the kernel's backlog; connections
// still queued when the listener closes are reset.
//
// A [Conn] is a stream: bytes written on one end are read, in order, on the
// other. Close is a FIN (the peer reads what was written, then io.EOF);
// SetLinger(0) then Close is a RST (the peer gets ECONNRESET at once).
// Deadlines, and the errors, are those of the net package: a failed call
// returns a *net.OpError wrapping net.ErrClosed, os.ErrDeadlineExceeded or a
// syscall.Errno, so errors.Is works as with real sockets. See [Conn] for the
// details.
//
// # What it does not model
//
// No latency, no bandwidth, no packet loss, no buffer limits, no name
// resolution, no TIME_WAIT, no half-close (CloseRead, CloseWrite), no UDP.
//
// Writes never block: every write is copied into an unbounded buffer and
// returns at once. This is deliberate. With writes that wait for the reader
// (net.Pipe), a program under two-way load can hang: its writer blocks in
// Write while holding a lock that its own reader needs, and as a goroutine
// waiting on a sync.Mutex is not durably blocked, a bubble then hangs
// silently instead of reporting a deadlock. Real sockets have large kernel
// buffers, which such a program rarely fills, so unbounded buffers are the
// closer model. The price: a writer whose peer never reads grows memory
// without bound, and a test that needs back-pressure (a slow reader stalling
// its writer) cannot be written on memnet.
package memnet

import (
	"context"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
)

// The ephemeral port range, Linux's default (net.ipv4.ip_local_port_range).
// Port 0 listeners and diallers' local ports are taken from it.
const (
	firstEphemeral = 32768
	lastEphemeral  = 60999
)

// Network is an in-memory network: a set of listening ports and the
// connections made to them. Its zero value is not usable; call [New]. Networks
// are independent of each other. A Network is safe for concurrent use.
type Network struct {
	mu        sync.Mutex
	listeners map[int]*Listener // by port
	dialPorts map[int]bool      // diallers' local ports in use
	next      int               // next ephemeral port to try
}

// New returns an empty network. In a synctest bubble, call New, and use the
// network, inside the bubble.
func New() *Network {
	return &Network{
		listeners: make(map[int]*Listener),
		dialPorts: make(map[int]bool),
		next:      firstEphemeral,
	}
}

// Listen announces on the local address, like net.Listen: network is "tcp"
// or "tcp4"; address is host:port, where the host is an IP address,
// "localhost" or empty (both 127.0.0.1), and port 0 picks a free port. A port
// that is already listened on is an error wrapping syscall.EADDRINUSE. The
// listener owns the port for every host: the network is one machine.
func (n *Network) Listen(network, address string) (net.Listener, error) {
	fail := func(addr net.Addr, err error) (net.Listener, error) {
		return nil, &net.OpError{Op: "listen", Net: network, Addr: addr, Err: err}
	}
	if network != "tcp" && network != "tcp4" {
		return fail(nil, net.UnknownNetworkError(network))
	}
	host, port, err := splitHostPort(address)
	if err != nil {
		return fail(nil, err)
	}
	ip, err := listenIP(network, host)
	if err != nil {
		return fail(nil, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if port == 0 {
		if port = n.freePort(); port == 0 {
			return fail(&net.TCPAddr{IP: ip}, os.NewSyscallError("bind", syscall.EADDRINUSE))
		}
	} else if n.listeners[port] != nil {
		return fail(&net.TCPAddr{IP: ip, Port: port}, os.NewSyscallError("bind", syscall.EADDRINUSE))
	}
	l := &Listener{
		n:     n,
		addr:  &net.TCPAddr{IP: ip, Port: port},
		ready: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	n.listeners[port] = l
	return l, nil
}

// Dial connects to the address on the named network, like net.Dial; it is
// DialContext with context.Background.
func (n *Network) Dial(network, address string) (net.Conn, error) {
	return n.DialContext(context.Background(), network, address)
}

// DialContext connects to the listener on the address's port, like
// net.Dialer.DialContext, and can be used as http.Transport.DialContext or
// websocket.Dialer.NetDialContext. network is "tcp" or "tcp4"; the address's
// host is not resolved and does not matter. It returns as soon as the
// connection is queued for the listener's Accept, without waiting for it. If
// nothing listens on the port, the error wraps syscall.ECONNREFUSED; if ctx
// is already done, the error wraps ctx.Err(). The result is a *[Conn].
func (n *Network) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	fail := func(addr net.Addr, err error) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	if network != "tcp" && network != "tcp4" {
		return fail(nil, net.UnknownNetworkError(network))
	}
	host, port, err := splitHostPort(address)
	if err != nil {
		return fail(nil, err)
	}
	var target net.Addr = hostAddr(address)
	if ip := net.ParseIP(host); ip != nil {
		target = &net.TCPAddr{IP: ip, Port: port}
	}
	if err := ctx.Err(); err != nil {
		return fail(target, err)
	}

	n.mu.Lock()
	l := n.listeners[port]
	if l == nil {
		n.mu.Unlock()
		return fail(target, os.NewSyscallError("connect", syscall.ECONNREFUSED))
	}
	local := n.freePort()
	if local == 0 {
		n.mu.Unlock()
		return fail(target, os.NewSyscallError("connect", syscall.EADDRNOTAVAIL))
	}
	n.dialPorts[local] = true
	n.mu.Unlock()

	ip := l.addr.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
		if l.addr.IP.To4() == nil {
			ip = net.IPv6loopback
		}
	}
	remote := &net.TCPAddr{IP: ip, Port: l.addr.Port}
	d, a := newPair(&net.TCPAddr{IP: ip, Port: local}, remote)
	d.release = func() {
		n.mu.Lock()
		delete(n.dialPorts, local)
		n.mu.Unlock()
	}
	if !l.enqueue(a) {
		d.release()
		return fail(target, os.NewSyscallError("connect", syscall.ECONNREFUSED))
	}
	return d, nil
}

// freePort returns the next ephemeral port that no listener and no dialler
// uses, or 0 if there is none. n.mu must be held.
func (n *Network) freePort() int {
	for range lastEphemeral - firstEphemeral + 1 {
		p := n.next
		if n.next++; n.next > lastEphemeral {
			n.next = firstEphemeral
		}
		if n.listeners[p] == nil && !n.dialPorts[p] {
			return p
		}
	}
	return 0
}

// unlisten frees l's port, if l still holds it.
func (n *Network) unlisten(l *Listener) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.listeners[l.addr.Port] == l {
		delete(n.listeners, l.addr.Port)
	}
}

// Listener is a listening port of a [Network], made by [Network.Listen]. It
// is safe for concurrent use.
type Listener struct {
	n    *Network
	addr *net.TCPAddr

	mu      sync.Mutex
	backlog []*Conn // dialled, not yet accepted (the accepting ends)
	closed  bool

	ready chan struct{} // a token when the backlog may be non-empty
	done  chan struct{} // closed by Close
}

// Accept waits for and returns the next connection, a *[Conn]. It blocks,
// durably in a bubble, until a connection is dialled or the listener is
// closed; after Close it returns an error wrapping net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
		}
		if len(l.backlog) > 0 {
			c := l.backlog[0]
			l.backlog[0] = nil
			l.backlog = l.backlog[1:]
			more := len(l.backlog) > 0
			l.mu.Unlock()
			if more {
				notify(l.ready) // for another Accept
			}
			return c, nil
		}
		l.mu.Unlock()
		select {
		case <-l.ready:
		case <-l.done:
		}
	}
}

// Close stops listening and frees the port at once; blocked Accept calls
// return. Connections dialled but not yet accepted are reset: their diallers
// get ECONNRESET. Closing twice is an error wrapping net.ErrClosed.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
	l.closed = true
	pending := l.backlog
	l.backlog = nil
	l.mu.Unlock()
	close(l.done)
	l.n.unlisten(l)
	for _, c := range pending {
		c.shut(true)
	}
	return nil
}

// Addr returns the listener's address, a *net.TCPAddr.
func (l *Listener) Addr() net.Addr { return l.addr }

// enqueue queues c for Accept; it reports false if l is closed.
func (l *Listener) enqueue(c *Conn) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.backlog = append(l.backlog, c)
	l.mu.Unlock()
	notify(l.ready)
	return true
}

// notify puts a token in ch (capacity 1) unless one is there already.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// splitHostPort splits host:port, the port a number from 0 to 65535.
func splitHostPort(address string) (string, int, error) {
	host, p, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, &net.AddrError{Err: "invalid port", Addr: address}
	}
	return host, port, nil
}

// listenIP is the address a listener on host has.
func listenIP(network, host string) (net.IP, error) {
	if host == "" || host == "localhost" {
		return net.IPv4(127, 0, 0, 1), nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if network == "tcp4" && ip.To4() == nil {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return ip, nil
}

// hostAddr is a dialled address whose host is a name, for errors.
type hostAddr string

func (a hostAddr) Network() string { return "tcp" }
func (a hostAddr) String() string  { return string(a) }
