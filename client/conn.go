package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// ALPN protocols AWS IoT expects on port 443: MQTT with client
// certificates, and MQTT with a custom authorizer.
const (
	alpnMQTTCA = "x-amzn-mqtt-ca"
	alpnMQTT   = "mqtt"
)

// errLinkBroken is what a deliberately broken connection reads.
var errLinkBroken = errors.New("client: connection abandoned")

// link is one MQTT connection: a fresh paho client per connection, so no
// state (stored messages, packet ids, stale acknowledgements) crosses a
// reconnect. The connection owner goroutine creates it; it ends when lost
// closes.
type link struct {
	gen            uint32
	paho           paho.Client
	sessionPresent bool
	disp           *dispatcher // the run's callback dispatcher
	watch          *watcher

	mu      sync.Mutex // guards conn, openErr
	conn    *breakableConn
	openErr error // why opening the connection failed, if it did

	lostOnce sync.Once
	lost     chan struct{} // closed when the connection is gone
	cause    error         // why; set before lost closes
}

func (l *link) markLost(cause error) {
	l.lostOnce.Do(func() {
		l.cause = cause
		close(l.lost)
	})
}

// breakConn makes the connection fail now: paho sees a read error at once
// and reports the loss.
func (l *link) breakConn() {
	l.mu.Lock()
	c := l.conn
	l.mu.Unlock()
	if c != nil {
		c.breakNow()
	}
}

// breakableConn is a net.Conn that can be failed on purpose. paho ignores
// "use of closed network connection" (it assumes it closed the socket
// itself), so a plain Close would only be noticed by keepalive.
type breakableConn struct {
	net.Conn
	broken atomic.Bool
}

func (b *breakableConn) Read(p []byte) (int, error) {
	n, err := b.Conn.Read(p)
	if err != nil && b.broken.Load() {
		return n, errLinkBroken
	}
	return n, err
}

func (b *breakableConn) breakNow() {
	b.broken.Store(true)
	b.Conn.Close()
}

// endpoint returns "host:port".
func (c *Client) endpoint() string {
	return net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port))
}

// dial makes one connection attempt: TCP, TLS handshake and CONNECT/CONNACK,
// together bounded by the connect timeout and ctx.
func (c *Client) dial(ctx context.Context, gen uint32, disp *dispatcher) (*link, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectDisconnectTimeout)
	defer cancel()
	l := &link{gen: gen, disp: disp, lost: make(chan struct{})}
	opts := c.pahoOptions(l, func() (net.Conn, error) {
		conn, err := c.openConn(ctx)
		l.mu.Lock()
		l.conn, l.openErr = conn, err
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if ctx.Err() != nil { // given up meanwhile: breakConn may have come too early
			conn.breakNow()
		}
		return conn, nil
	})
	cli := paho.NewClient(opts)
	tok := cli.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		l.breakConn()
		<-tok.Done() // prompt: the dial, the handshake or the CONNACK read fails at once
		if tok.Error() == nil {
			cli.Disconnect(0) // the CONNACK won the race: do not leave the session open
		}
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("%w connecting to %s (no CONNACK within %v)", ErrTimeout, c.endpoint(), c.cfg.ConnectDisconnectTimeout)
		}
		return nil, fmt.Errorf("client: connect to %s: %w", c.endpoint(), ctx.Err())
	}
	if err := tok.Error(); err != nil {
		if rc := tok.(*paho.ConnectToken).ReturnCode(); rc >= 1 && rc <= 5 {
			return nil, &ConnectError{ReturnCode: rc}
		}
		l.mu.Lock()
		if l.openErr != nil {
			err = l.openErr // ours, without paho's "network Error" wrapping
		}
		l.mu.Unlock()
		return nil, fmt.Errorf("client: connect to %s: %w", c.endpoint(), err)
	}
	l.paho = cli
	l.sessionPresent = tok.(*paho.ConnectToken).SessionPresent()
	return l, nil
}

// pahoOptions configures paho for one connection: our own reconnect loop,
// MQTT 3.1.1, bounded writes, ordered delivery to our non-blocking handler.
func (c *Client) pahoOptions(l *link, open func() (net.Conn, error)) *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker("tls://" + c.endpoint()).
		SetClientID(c.cfg.ClientID).
		SetCleanSession(c.cfg.CleanSession).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(c.cfg.KeepAlive).
		SetPingTimeout(c.cfg.PingTimeout).
		SetConnectTimeout(c.cfg.ConnectDisconnectTimeout).
		SetWriteTimeout(c.cfg.OperationTimeout).
		SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.onMessage(l, m) }).
		SetConnectionLostHandler(func(_ paho.Client, err error) { l.markLost(err) }).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) { return open() })
	if u := c.cfg.mqttUsername(); u != "" {
		o.SetUsername(u)
	}
	if c.cfg.Password != "" {
		o.SetPassword(c.cfg.Password)
	}
	if w := c.cfg.Will; w != nil {
		o.SetBinaryWill(w.Topic, w.Payload, byte(w.QoS), w.Retain)
	}
	return o
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
		return &breakableConn{Conn: ws}, nil
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
	return &breakableConn{Conn: tc}, nil
}
