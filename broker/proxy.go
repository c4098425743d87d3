package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// CutMode says how CutLinks ends a connection.
type CutMode int

const (
	// FIN closes the sockets normally: the client reads EOF.
	FIN CutMode = iota
	// RST aborts the client's socket (SO_LINGER 0): the client reads
	// "connection reset by peer".
	RST
)

// String names the mode.
func (m CutMode) String() string {
	if m == RST {
		return "RST"
	}
	return "FIN"
}

// dialTimeout bounds the proxy's dial to its upstream.
const dialTimeout = 5 * time.Second

// ProxyOption configures a Proxy.
type ProxyOption func(*Proxy)

// ProxyWithListenAddr sets the address the proxy listens on (default
// "127.0.0.1:0", an ephemeral loopback port).
func ProxyWithListenAddr(addr string) ProxyOption { return func(p *Proxy) { p.listenAddr = addr } }

// ProxyWithRecorder makes the proxy record its TCP accepts and the faults
// applied to it, under the given listener name.
func ProxyWithRecorder(r *Recorder, name string) ProxyOption {
	return func(p *Proxy) { p.rec, p.name = r, name }
}

// proxyWithNetwork makes the proxy listen and dial on n.
func proxyWithNetwork(n network) ProxyOption { return func(p *Proxy) { p.net = n } }

// Proxy is a TCP proxy that injects link faults. It forwards bytes unchanged,
// so it is transparent to TLS and WebSocket: mutual TLS still ends at the
// upstream server, which may be the embedded broker or any real endpoint.
//
// Its faults: CutLinks (FIN or RST), and the switches Refuse, HangUp and
// Blackhole (SetFault). With ProxyWithRecorder, each fault is recorded
// before it is applied, so its effects come after it in the recorder.
type Proxy struct {
	listenAddr string
	rec        *Recorder
	name       string
	net        network

	mu        sync.Mutex // guards the fields below
	addr      string     // fixed after the first listen
	upstream  string
	ln        net.Listener // nil while refusing or closed
	links     map[*link]struct{}
	gate      chan struct{} // closed while traffic flows; open (blocking) while blackholed
	blackhole bool
	// holding mirrors blackhole for the copiers' lock-free fast path.
	holding atomic.Bool
	hangUp  bool
	closed  bool

	wg sync.WaitGroup // accept loops and copiers
}

// NewProxy starts a proxy in front of upstream ("host:port").
func NewProxy(upstream string, opts ...ProxyOption) (*Proxy, error) {
	if upstream == "" {
		return nil, errors.New("broker: proxy: no upstream address")
	}
	return newProxy(upstream, opts...)
}

// newProxy starts a proxy; the broker's start without an upstream and set
// it once its listener is up (until then a connection is closed at once).
func newProxy(upstream string, opts ...ProxyOption) (*Proxy, error) {
	p := &Proxy{
		listenAddr: "127.0.0.1:0",
		net:        tcpNetwork{},
		upstream:   upstream,
		links:      make(map[*link]struct{}),
		gate:       make(chan struct{}),
	}
	close(p.gate)
	for _, o := range opts {
		o(p)
	}
	ln, err := p.net.Listen("tcp", p.listenAddr)
	if err != nil {
		return nil, fmt.Errorf("broker: proxy listen on %s: %w", p.listenAddr, err)
	}
	p.addr = ln.Addr().String()
	p.mu.Lock()
	p.serve(ln)
	p.mu.Unlock()
	return p, nil
}

// Addr returns the address clients dial ("127.0.0.1:port"). It stays the same
// across Refuse and Accept.
func (p *Proxy) Addr() string { return p.addr }

// DialContext connects to the proxy, whatever address it is asked for: a
// client's socket factory (client.Config.ConfigureSocketFactory) that sends
// a device configured for the real endpoint's name through the proxy, TLS
// still verifying that name.
func (p *Proxy) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	return p.net.DialContext(ctx, network, p.addr)
}

// Upstream returns the address the proxy forwards to.
func (p *Proxy) Upstream() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.upstream
}

// SetUpstream changes where new connections are forwarded; existing links
// are left alone.
func (p *Proxy) SetUpstream(addr string) {
	p.mu.Lock()
	p.upstream = addr
	p.mu.Unlock()
}

// Links returns the number of open client connections.
func (p *Proxy) Links() int {
	return len(p.linksWhere(func(*link) bool { return true }))
}

// CutLinks closes every open connection and returns how many it closed.
// New connections are still accepted.
func (p *Proxy) CutLinks(mode CutMode) int {
	cut := p.linksWhere(func(*link) bool { return true })
	p.record(Event{Kind: KindFault, Fault: FaultCut, Detail: fmt.Sprintf("cut %d link(s) with %v", len(cut), mode)})
	closeLinks(cut, mode)
	return len(cut)
}

// linksByUpstreamLocal returns the links whose upstream socket has the given
// local address (the remote address the upstream server sees).
func (p *Proxy) linksByUpstreamLocal(addr string) []*link {
	return p.linksWhere(func(l *link) bool { return l.upLocal == addr })
}

// clientAddr maps the upstream-side local address of a link to the address
// of the client on the other side, or "" if unknown.
func (p *Proxy) clientAddr(upLocal string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		if l.upLocal == upLocal {
			return l.clientAddr
		}
	}
	return ""
}

// linksWhere returns the open links that match. A closed link stays in
// p.links until its copiers notice, but it is not open.
func (p *Proxy) linksWhere(match func(*link) bool) []*link {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*link
	for l := range p.links {
		if !l.closed() && match(l) {
			out = append(out, l)
		}
	}
	return out
}

func closeLinks(links []*link, mode CutMode) {
	for _, l := range links {
		l.close(mode)
	}
}

// SetFault switches one of the link faults on or off: Refuse (new
// connections get ECONNREFUSED on the same port), HangUp (new connections
// are accepted and closed at once, each attempt still recorded as an
// ACCEPT, so attempts can be timed in front of any endpoint) or Blackhole
// (traffic held both ways, sockets open, closes not passed on: a silent
// partition only keepalive detects; held bytes are delivered when it is
// switched off). It is recorded before it applies.
func (p *Proxy) SetFault(f Fault, on bool) error {
	if !f.isLinkFault() {
		return fmt.Errorf("broker: proxy: %s is not a link fault (Refuse, HangUp, Blackhole)", f.Kind)
	}
	p.record(faultEvent(f, on))
	return p.setLinkFault(f, on)
}

// setLinkFault applies a link fault without recording it.
func (p *Proxy) setLinkFault(f Fault, on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch f.Kind {
	case FaultRefuse:
		if on {
			p.closeListenerLocked()
			return nil
		}
		return p.listenAgainLocked()
	case FaultHangUp:
		p.hangUp = on
	case FaultBlackhole:
		switch {
		case on && !p.blackhole:
			p.blackhole = true
			p.holding.Store(true)
			p.gate = make(chan struct{})
		case !on && p.blackhole:
			p.blackhole = false
			p.holding.Store(false)
			close(p.gate)
		}
	}
	return nil
}

// closeListenerLocked closes the listening socket, if any. p.mu must be
// held, so that listening again cannot try to bind the port before it is
// free.
func (p *Proxy) closeListenerLocked() {
	if p.ln != nil {
		p.ln.Close() // returns once the socket is closed
		p.ln = nil
	}
}

// listenAgainLocked listens again on the same address after Refuse. p.mu
// must be held.
func (p *Proxy) listenAgainLocked() error {
	if p.closed {
		return errors.New("broker: proxy closed")
	}
	if p.ln != nil {
		return nil
	}
	ln, err := p.net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("broker: proxy listen again on %s: %w", p.addr, err)
	}
	p.serve(ln)
	return nil
}

// Close stops listening, closes every link and waits for the proxy's
// goroutines. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.closeListenerLocked()
	p.mu.Unlock()
	closeLinks(p.linksWhere(func(*link) bool { return true }), FIN)
	p.wg.Wait()
	return nil
}

// serve starts an accept loop on ln. p.mu must be held.
func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c)
			}()
		}
	}()
}

// handle dials upstream for an accepted connection and starts its copiers.
func (p *Proxy) handle(c net.Conn) {
	p.mu.Lock()
	upstream, hangUp := p.upstream, p.hangUp
	p.mu.Unlock()
	accept := Event{Kind: KindAccept, Remote: c.RemoteAddr().String()}
	if hangUp {
		accept.Fault, accept.Detail = FaultHangUp, "hung up"
		p.record(accept)
		c.Close()
		return
	}
	p.record(accept)
	if upstream == "" { // the broker's listener is not up yet
		c.Close()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	up, err := p.net.DialContext(ctx, "tcp", upstream)
	cancel()
	if err != nil {
		c.Close()
		return
	}
	l := &link{client: c, up: up, clientAddr: c.RemoteAddr().String(), upLocal: up.LocalAddr().String(), done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.close(FIN)
		return
	}
	p.links[l] = struct{}{}
	p.wg.Add(2)
	p.mu.Unlock()
	go p.copy(l, up, c)
	go p.copy(l, c, up)
}

// copy moves bytes from src to dst until either side fails, holding them
// while the proxy is blackholed.
func (p *Proxy) copy(l *link, dst, src net.Conn) {
	defer p.wg.Done()
	defer p.forget(l)
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if !p.waitFlowing(l) {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				l.close(FIN)
				return
			}
		}
		if err != nil {
			l.close(FIN)
			return
		}
	}
}

// waitFlowing blocks while the proxy is blackholed. It returns false if the
// link was closed meanwhile.
func (p *Proxy) waitFlowing(l *link) bool {
	if !p.holding.Load() {
		return true // the common case: no lock per chunk copied
	}
	for {
		p.mu.Lock()
		gate := p.gate
		p.mu.Unlock()
		select {
		case <-gate:
			// The gate may have been replaced by a new blackhole between the
			// read and the close of this one; check again.
			p.mu.Lock()
			flowing := !p.blackhole
			p.mu.Unlock()
			if flowing {
				return true
			}
		case <-l.done:
			return false
		}
	}
}

func (p *Proxy) forget(l *link) {
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

func (p *Proxy) record(e Event) {
	if p.rec != nil {
		e.Listener = p.name
		p.rec.add(e)
	}
}

// link is one proxied client connection.
type link struct {
	client, up net.Conn
	clientAddr string // the client's address
	upLocal    string // our address as the upstream sees it

	once sync.Once
	done chan struct{}
}

func (l *link) closed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

func (l *link) close(mode CutMode) {
	l.once.Do(func() {
		if mode == RST {
			for _, c := range []net.Conn{l.client, l.up} {
				if lc, ok := c.(interface{ SetLinger(sec int) error }); ok {
					lc.SetLinger(0) // *net.TCPConn, or an in-memory connection
				}
			}
		}
		l.client.Close()
		l.up.Close()
		close(l.done)
	})
}
