package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// dial makes one connection attempt: TCP, TLS handshake and CONNECT/CONNACK,
// together bounded by the connect timeout and ctx. The link it returns is
// connected but its goroutine is not started.
func (c *Client) dial(ctx context.Context) (*link, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectDisconnectTimeout)
	defer cancel()
	l := newLink(c.s)
	var openErr error // guarded by l.connMu
	opts := c.pahoOptions(l, func() (net.Conn, error) {
		conn, err := c.openConn(ctx)
		l.connMu.Lock()
		l.conn, openErr = conn, err
		l.connMu.Unlock()
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
	}
	if err := tok.Error(); err != nil || ctx.Err() != nil {
		l.connMu.Lock()
		defer l.connMu.Unlock()
		return nil, c.connectFailure(ctx, tok.(*paho.ConnectToken), err, openErr)
	}
	l.paho = cli
	l.sessionPresent = tok.(*paho.ConnectToken).SessionPresent()
	return l, nil
}

// connectFailure names why an attempt failed: a timeout (whichever step
// ran out of time), a refused CONNACK, a TLS refusal by the broker, or the
// transport's own error (without paho's "network Error" wrapping).
func (c *Client) connectFailure(ctx context.Context, tok *paho.ConnectToken, err, openErr error) error {
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		// Out of time, whichever step noticed first (paho's own deadline
		// on the CONNECT exchange ends at the same time).
		return fmt.Errorf("%w connecting to %s (no CONNACK within %v, ConfigureConnectDisconnectTimeout)", ErrTimeout, c.endpoint(), c.cfg.ConnectDisconnectTimeout)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("client: connect to %s: %w", c.endpoint(), ctx.Err())
	}
	if rc := tok.ReturnCode(); rc >= 1 && rc <= 5 {
		return &ConnectError{ReturnCode: rc}
	}
	if openErr != nil {
		err = openErr
	}
	var alert *net.OpError
	if errors.As(err, &alert) && alert.Op == "remote error" {
		return fmt.Errorf("%w (%s): %w", ErrTLSRefused, c.endpoint(), alert)
	}
	return fmt.Errorf("client: connect to %s: %w", c.endpoint(), unwrapPaho(err))
}

// unwrapPaho removes paho's "network Error : " wrapping from a connect
// error, keeping the cause.
func unwrapPaho(err error) error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		if errs := u.Unwrap(); len(errs) == 2 && errors.Is(errs[0], packets.ErrorNetworkError) {
			return errs[1]
		}
	}
	return err
}

// pahoOptions configures paho for one connection: our own reconnect loop,
// MQTT 3.1.1, ordered delivery to our non-blocking handler, the link's
// store (acknowledgements), a bounded hand-off.
func (c *Client) pahoOptions(l *link, open func() (net.Conn, error)) *paho.ClientOptions {
	o := paho.NewClientOptions().
		AddBroker("tls://" + c.endpoint()).
		SetClientID(c.cfg.ClientID).
		SetCleanSession(!c.cfg.PersistentSession).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(c.cfg.keepAlive()).
		SetPingTimeout(c.cfg.PingTimeout).
		SetConnectTimeout(c.cfg.ConnectDisconnectTimeout).
		SetWriteTimeout(handOffTimeout).
		SetOrderMatters(true).
		SetResumeSubs(true). // so the store hears of SUBSCRIBE packet ids
		SetStore(ackStore{l}).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.onMessage(m) }).
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
