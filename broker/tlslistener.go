package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"
)

// handshakeTimeout bounds a TLS handshake on the broker side.
const handshakeTimeout = 10 * time.Second

// errNoSNI refuses a TLS handshake without a server name, as AWS IoT Core
// does.
var errNoSNI = errors.New("tls: no server name (SNI) in the ClientHello; AWS IoT Core refuses connections without SNI")

// withRequiredSNI returns a copy of cfg that refuses handshakes without SNI.
func withRequiredSNI(cfg *tls.Config) *tls.Config {
	c := cfg.Clone()
	c.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		if h.ServerName == "" {
			return nil, errNoSNI
		}
		return nil, nil
	}
	return c
}

// tlsListener completes each TLS handshake before handing the connection on
// (to mochi, or to the WebSocket listener's HTTP server), so a refused
// handshake is recorded with its cause and the client's address (mochi
// would only see a failed read; net/http would log it to stderr with the
// proxy's address), and hooks see a *tls.Conn whose ConnectionState is
// complete.
type tlsListener struct {
	inner net.Listener
	cfg   *tls.Config
	rec   *Recorder
	name  string
	// clientAddr maps a connection's remote address to the device's
	// address in front of the proxy.
	clientAddr func(string) string
	// customAuth lets clients without a certificate through if they
	// negotiated ALPN "mqtt" (the CONNECT is then authorized by user name).
	customAuth bool
	// requireALPN refuses handshakes that negotiated no application
	// protocol, as AWS IoT does on port 443.
	requireALPN bool

	ready chan net.Conn
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu      sync.Mutex // guards pending
	pending map[net.Conn]struct{}
}

func newTLSListener(inner net.Listener, cfg *tls.Config, rec *Recorder, name string, clientAddr func(string) string) *tlsListener {
	l := &tlsListener{
		inner: inner, cfg: cfg, rec: rec, name: name, clientAddr: clientAddr,
		ready:   make(chan net.Conn),
		done:    make(chan struct{}),
		pending: make(map[net.Conn]struct{}),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *tlsListener) acceptLoop() {
	defer l.wg.Done()
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			return
		}
		l.mu.Lock()
		l.pending[raw] = struct{}{}
		l.mu.Unlock()
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

func (l *tlsListener) handshake(raw net.Conn) {
	defer l.wg.Done()
	defer func() {
		l.mu.Lock()
		delete(l.pending, raw)
		l.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	tc := tls.Server(raw, l.cfg)
	err := tc.HandshakeContext(ctx)
	st := tc.ConnectionState()
	switch {
	case err != nil:
	case l.requireALPN && st.NegotiatedProtocol == "":
		err = errors.New("tls: no ALPN protocol negotiated (this listener, like AWS IoT's port 443, needs x-amzn-mqtt-ca or mqtt)")
	case l.customAuth && len(st.PeerCertificates) == 0 && st.NegotiatedProtocol != ALPNMQTT:
		err = errors.New("tls: client didn't provide a certificate (custom authentication needs ALPN \"mqtt\")")
	}
	if err != nil {
		l.rec.add(Event{Kind: KindTLSFailure, Remote: l.clientAddr(raw.RemoteAddr().String()), Listener: l.name, Cause: err.Error()})
		raw.Close()
		return
	}
	select {
	case l.ready <- tc:
	case <-l.done:
		tc.Close()
	}
}

// Accept returns the next connection whose handshake succeeded.
func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting, aborts handshakes in progress and waits for them.
func (l *tlsListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.inner.Close()
		l.mu.Lock()
		for c := range l.pending {
			c.Close()
		}
		l.mu.Unlock()
	})
	l.wg.Wait()
	return nil
}

func (l *tlsListener) Addr() net.Addr { return l.inner.Addr() }
