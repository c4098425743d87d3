package testenv

import (
	"context"
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
// clientID (MQTT 3.1.1, clean session, keepalive 1200 s, no reconnect,
// changed by adjust), through the target's proxy; the test fails if it
// cannot connect, and the client is disconnected when the test ends.
func (t *Target) Raw(tb testing.TB, clientID string, adjust ...func(*paho.ClientOptions)) *RawClient {
	tb.Helper()
	c, err := t.DialRaw(tb, clientID, adjust...)
	if err != nil {
		tb.Fatalf("testenv: raw client %s: connect: %v", clientID, err)
	}
	return c
}

// DialRaw is Raw returning the connect error (the CONNACK's refusal, or
// the connection's end) instead of failing the test.
func (t *Target) DialRaw(tb testing.TB, clientID string, adjust ...func(*paho.ClientOptions)) (*RawClient, error) {
	tb.Helper()
	tlsCfg, err := t.TLSConfig()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	lost := make(chan error, 1)
	opts := paho.NewClientOptions().
		AddBroker("tls://" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port))).
		SetClientID(clientID).SetProtocolVersion(4).SetKeepAlive(1200 * time.Second).
		SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(Timeout).SetWriteTimeout(Timeout).
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			return t.DialTLS(ContextFor(tb, Timeout), tlsCfg)
		})
	for _, a := range adjust {
		a(opts)
	}
	c := paho.NewClient(opts)
	if err := WaitToken(c.Connect()); err != nil {
		return nil, err
	}
	tb.Cleanup(func() { c.Disconnect(0) })
	return &RawClient{Client: c, Lost: lost}, nil
}

// TLSConfig is the device's TLS configuration for the target: its
// certificate, the target's root CA and host name (sent as SNI).
func (t *Target) TLSConfig() (*tls.Config, error) {
	pool, kp, err := certs.LoadDeviceFiles(t.Files)
	if err != nil {
		return nil, fmt.Errorf("device files: %w", err)
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp.TLSCertificate()}, ServerName: t.Host, MinVersion: tls.VersionTLS12}, nil
}

// DialTLS opens a TLS connection to the target through its proxy.
func (t *Target) DialTLS(ctx context.Context, cfg *tls.Config) (net.Conn, error) {
	raw, err := t.Proxy.DialContext(ctx, "tcp", "")
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// WaitToken waits for a paho token, at most Timeout, and returns its error.
func WaitToken(tok paho.Token) error {
	if !tok.WaitTimeout(Timeout) {
		return fmt.Errorf("testenv: no answer from the broker in %v", Timeout)
	}
	return tok.Error()
}
