// Package testenv is the test environment the project's tests and
// cmd/benchreport share: where a scenario runs (the embedded broker, or a
// real endpoint behind a fault proxy), device configurations for it,
// bounded contexts, status waits and a log buffer. One helper each, so the
// packages do not write them again.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/certs"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/samples"
)

// Timeout bounds every wait of the tests: generous, so they hold on a
// loaded 2-core machine. (In a testing/synctest bubble it is virtual time.)
const Timeout = 30 * time.Second

// Context returns a context bounded by Timeout, cancelled when the test
// ends.
func Context(tb testing.TB) context.Context { return ContextFor(tb, Timeout) }

// ContextFor returns a context bounded by d, cancelled when the test ends:
// for a test in virtual time whose schedule runs longer than Timeout (its
// bound costs nothing there).
func ContextFor(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// Endpoint is an external MQTT broker with mutual TLS, AWS IoT Core
// included.
type Endpoint struct {
	Host              string
	Port              int
	RootCA, Cert, Key string // PEM files
}

// Target is where a scenario runs: the embedded broker, or an external
// endpoint behind a fault proxy. Devices dial Proxy (their TLS still
// verifies Host), so link faults work the same on both.
type Target struct {
	Broker *broker.Broker   // nil for an external endpoint
	Proxy  *broker.Proxy    // link faults; devices dial it
	Events *broker.Recorder // the broker's, or (external) only the proxy's
	Host   string
	Port   int
	Files  certs.DeviceFiles
}

// Embedded starts the embedded broker as a target.
func Embedded(opts ...broker.Option) (*Target, error) {
	b, err := broker.StartTLS(opts...)
	if err != nil {
		return nil, err
	}
	l := b.MTLS()
	return &Target{Broker: b, Proxy: l.Proxy, Events: b.Events, Host: l.Host, Port: l.Port, Files: b.ClientFiles()}, nil
}

// External puts a fault proxy in front of ep.
func External(ep Endpoint) (*Target, error) {
	if ep.RootCA == "" || ep.Cert == "" || ep.Key == "" {
		return nil, errors.New("testenv: an external endpoint needs its root CA, certificate and key files")
	}
	rec := broker.NewRecorder()
	p, err := broker.NewProxy(net.JoinHostPort(ep.Host, strconv.Itoa(ep.Port)), broker.ProxyWithRecorder(rec, "proxy"))
	if err != nil {
		return nil, err
	}
	return &Target{Proxy: p, Events: rec, Host: ep.Host, Port: ep.Port,
		Files: certs.DeviceFiles{RootCA: ep.RootCA, Cert: ep.Cert, PrivateKey: ep.Key}}, nil
}

// Close stops the embedded broker, or the proxy.
func (t *Target) Close() error {
	if t.Broker != nil {
		return t.Broker.Close()
	}
	return t.Proxy.Close()
}

// NewEmbedded is Embedded for a test: it fails the test if the broker does
// not start, and closes it when the test ends.
func NewEmbedded(tb testing.TB, opts ...broker.Option) *Target {
	tb.Helper()
	t, err := Embedded(opts...)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		if err := t.Close(); err != nil {
			tb.Errorf("testenv: close: %v", err)
		}
	})
	return t
}

// NewExternal is External for a test.
func NewExternal(tb testing.TB, ep Endpoint) *Target {
	tb.Helper()
	t, err := External(ep)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() { t.Close() })
	return t
}

// Config configures a device for the target as a device is configured for
// AWS — endpoint, root CA, key and certificate files — dialling the fault
// proxy. Timings are AWS's defaults; see Scale.
func (t *Target) Config(clientID string) client.Config {
	cfg := client.DefaultConfig(clientID)
	cfg.ConfigureEndpoint(t.Host, t.Port)
	cfg.ConfigureCredentials(t.Files.RootCA, t.Files.PrivateKey, t.Files.Cert)
	cfg.ConfigureSocketFactory(t.Proxy.DialContext)
	return cfg
}

// DeviceConfig configures a device for b's mutual-TLS listener (see
// Target.Config).
func DeviceConfig(b *broker.Broker, clientID string) client.Config {
	l := b.MTLS()
	t := Target{Proxy: l.Proxy, Host: l.Host, Port: l.Port, Files: b.ClientFiles()}
	return t.Config(clientID)
}

// Scale shortens cfg's timings so reconnect scenarios stay fast: back-off
// base, 8·base at most, reset after a second up; draining at 20 Hz; 5 s
// connect and operation timeouts.
func Scale(cfg *client.Config, base time.Duration) {
	cfg.ConfigureAutoReconnectBackoffTime(base, 8*base, max(time.Second, 2*base))
	cfg.ConfigureDrainingFrequency(20)
	cfg.ConfigureConnectDisconnectTimeout(5 * time.Second)
	cfg.ConfigureMQTTOperationTimeout(5 * time.Second)
}

// StartClient makes a client and connects it, bounded by Timeout.
func StartClient(cfg client.Config) (*client.Client, error) {
	c, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		return nil, fmt.Errorf("testenv: connect %s: %w", cfg.ClientID, err)
	}
	return c, nil
}

// StopClient closes c (disconnecting it, and releasing its offline queue's
// directory), bounded by its connect/disconnect timeout.
func StopClient(c *client.Client) { _ = c.Close() }

// AwaitStatus waits, bounded by Timeout, until c's status is want.
func AwaitStatus(c *client.Client, want client.Status) error {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	return c.WaitStatus(ctx, want)
}

// Connect makes a client and connects it; it is disconnected when the test
// ends.
func Connect(tb testing.TB, cfg client.Config) *client.Client {
	tb.Helper()
	c := NewClient(tb, cfg)
	if err := c.Connect(Context(tb)); err != nil {
		tb.Fatalf("testenv: connect %s: %v", cfg.ClientID, err)
	}
	return c
}

// NewClient makes a client, not yet connected; it is disconnected when the
// test ends.
func NewClient(tb testing.TB, cfg client.Config) *client.Client {
	tb.Helper()
	c, err := client.New(cfg)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() { StopClient(c) })
	return c
}

// WaitStatus waits, bounded by Timeout, until c's status is want.
func WaitStatus(tb testing.TB, c *client.Client, want client.Status) {
	tb.Helper()
	if err := c.WaitStatus(Context(tb), want); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
}

// Buffer is a bytes.Buffer safe for concurrent use: a log sink a client's
// goroutines and the test share.
type Buffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Receive returns the next value from ch, failing the test with what if
// none comes before ctx ends.
func Receive[T any](tb testing.TB, ctx context.Context, ch <-chan T, what string) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		tb.Fatalf("testenv: %s: %v", what, fmt.Errorf("nothing before the context ended: %w", ctx.Err()))
		var zero T
		return zero
	}
}

// QuickReconnects is the broker's AWS IoT Core profile without AWS's limit
// of one CONNECT per second per client id, for tests of client behaviour
// whose scaled back-off (Scale) reconnects sooner than AWS would admit.
// Every other AWS behaviour stays; the connect rate itself is proved by the
// broker's and the integration suite's tests.
func QuickReconnects() broker.Option {
	p := broker.AWSIoTCore()
	p.ConnectInterval = 0
	return broker.WithProfile(p)
}

// Unthrottled is the broker's AWS IoT Core profile without AWS's per
// connection publish rate (100/s), throughput (512 KiB/s) and limit of 100
// unacknowledged deliveries, for throughput measurements and tests that
// stream faster than a device on AWS may.
func Unthrottled() broker.Option {
	p := broker.AWSIoTCore()
	p.ConnectInterval, p.PublishRate, p.Throughput, p.MaxUnackedOutbound = 0, 0, 0, 0
	return broker.WithProfile(p)
}

// UsageCase is a command line a sample must refuse, and what the refusal
// says.
type UsageCase struct {
	Args []string
	Want string
}

// RequireUsageErrors runs each command line through a sample's run and
// requires a usage error (samples.ErrUsage, exit code 2) whose message or
// stderr contains Want; and requires -h to be flag.ErrHelp (exit code 0).
func RequireUsageErrors(t *testing.T, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error, cases []UsageCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(strings.Join(c.Args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), c.Args, io.Discard, &stderr)
			if !errors.Is(err, samples.ErrUsage) {
				t.Fatalf("%v: got %v, want a usage error (exit code 2)", c.Args, err)
			}
			if got := err.Error() + stderr.String(); !strings.Contains(got, c.Want) {
				t.Fatalf("%v: %q does not say %q", c.Args, got, c.Want)
			}
		})
	}
	if err := run(context.Background(), []string{"-h"}, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: got %v, want flag.ErrHelp (exit code 0)", err)
	}
}
