package client_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// TestMain runs the tests, or, in a child the kill test started, the
// device program it kills (runKillChild).
func TestMain(m *testing.M) {
	if round := os.Getenv(childRound); round != "" {
		os.Exit(runKillChild(round, os.Getenv(childEnv)))
	}
	goleak.VerifyTestMain(m)
}

// newBroker starts the broker for a client test: AWS IoT Core's profile
// without its one CONNECT per second per client id, because the tests'
// scaled back-off (50 ms) reconnects sooner than AWS admits; the throttle
// itself, and the client's back-off against it, are proved in broker/ and
// integration/.
func newBroker(t *testing.T, opts ...broker.Option) *broker.Broker {
	return broker.NewTLS(t, append([]broker.Option{testenv.QuickReconnects()}, opts...)...)
}

// deviceConfig configures a client for b exactly as a device is configured
// for AWS (endpoint, root CA, key, certificate files), with scaled-down
// timings so reconnect tests stay fast: back-off 50 ms, 400 ms, 1 s.
func deviceConfig(b *broker.Broker, clientID string) client.Config {
	cfg := testenv.DeviceConfig(b, clientID)
	testenv.Scale(&cfg, 50*time.Millisecond)
	return cfg
}

// lifecycle collects a client's online and offline callbacks.
type lifecycle struct {
	online  chan struct{}
	offline chan error
}

func watchLifecycle(cfg *client.Config) *lifecycle {
	lc := &lifecycle{online: make(chan struct{}, 100), offline: make(chan error, 100)}
	cfg.OnOnline = func() { lc.online <- struct{}{} }
	cfg.OnOffline = func(err error) { lc.offline <- err }
	return lc
}

func (lc *lifecycle) waitOnline(t *testing.T) {
	t.Helper()
	testenv.Receive(t, testenv.Context(t), lc.online, "OnOnline")
}

func (lc *lifecycle) waitOffline(t *testing.T) error {
	t.Helper()
	return testenv.Receive(t, testenv.Context(t), lc.offline, "OnOffline")
}

// stall blackholes b's links and gives c's connection 16 MiB of QoS 1
// publishes, more than the socket buffers hold, so paho's writer blocks.
func stall(t *testing.T, b *broker.Broker, c *client.Client) {
	t.Helper()
	require.NoError(t, b.SetFault(broker.Blackhole, true))
	t.Cleanup(func() { b.SetFault(broker.Blackhole, false) })
	payload := make([]byte, client.DefaultMaxPayloadSize)
	for range 128 {
		_, err := c.PublishAsync("stall", payload, client.QoS1, nil)
		require.NoError(t, err)
	}
}
