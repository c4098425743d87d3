package testenv

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotmqtt/iotmqtt/certs"
)

// RawClient is a plain paho client on a Target, for sending what the
// iotmqtt client refuses to send: the broker's answer is what a test
// checks. Lost receives the cause when the broker closes the connection.
type RawClient struct {
	paho.Client
	Lost <-chan error
}

// Raw connects a paho client with the target's device credentials as
// clientID (MQTT 3.1.1, clean session, keepalive 1200 s, no reconnect),
// through the target's proxy; the test fails if it cannot connect, and
// the client is disconnected when the test ends.
func (t *Target) Raw(tb testing.TB, clientID string) *RawClient {
	tb.Helper()
	pool, kp, err := certs.LoadDeviceFiles(t.Files)
	if err != nil {
		tb.Fatalf("testenv: device files: %v", err)
	}
	tlsCfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp.TLSCertificate()}, ServerName: t.Host, MinVersion: tls.VersionTLS12}
	lost := make(chan error, 1)
	opts := paho.NewClientOptions().
		AddBroker("tls://" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port))).
		SetClientID(clientID).SetProtocolVersion(4).SetKeepAlive(1200 * time.Second).
		SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(Timeout).SetWriteTimeout(Timeout).
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			ctx := ContextFor(tb, Timeout)
			raw, err := t.Proxy.DialContext(ctx, "tcp", "")
			if err != nil {
				return nil, err
			}
			conn := tls.Client(raw, tlsCfg)
			if err := conn.HandshakeContext(ctx); err != nil {
				raw.Close()
				return nil, err
			}
			return conn, nil
		})
	c := paho.NewClient(opts)
	if err := WaitToken(c.Connect()); err != nil {
		tb.Fatalf("testenv: raw client %s: connect: %v", clientID, err)
	}
	tb.Cleanup(func() { c.Disconnect(0) })
	return &RawClient{Client: c, Lost: lost}
}

// WaitToken waits for a paho token, at most Timeout, and returns its error.
func WaitToken(tok paho.Token) error {
	if !tok.WaitTimeout(Timeout) {
		return fmt.Errorf("testenv: no answer from the broker in %v", Timeout)
	}
	return tok.Error()
}
