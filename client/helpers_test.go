package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every wait; generous, so the tests hold on a loaded
// 2-core machine.
const testTimeout = 15 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// deviceConfig configures a client for b exactly as a device is configured
// for AWS (endpoint, root CA, key, certificate files), with scaled-down
// timings so reconnect tests stay fast.
func deviceConfig(b *broker.Broker, clientID string) client.Config {
	cfg := client.DefaultConfig(clientID)
	cfg.ConfigureEndpoint(b.Host(), b.Port())
	f := b.ClientFiles()
	cfg.ConfigureCredentials(f.RootCA, f.PrivateKey, f.Cert)
	cfg.ConfigureAutoReconnectBackoffTime(50*time.Millisecond, 400*time.Millisecond, time.Second)
	cfg.ConfigureDrainingFrequency(20)
	cfg.ConfigureConnectDisconnectTimeout(5 * time.Second)
	cfg.ConfigureMQTTOperationTimeout(5 * time.Second)
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
	select {
	case <-lc.online:
	case <-time.After(testTimeout):
		t.Fatal("OnOnline was not called")
	}
}

func (lc *lifecycle) waitOffline(t *testing.T) error {
	t.Helper()
	select {
	case err := <-lc.offline:
		return err
	case <-time.After(testTimeout):
		t.Fatal("OnOffline was not called")
		return nil
	}
}

func newClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c, err := client.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		_ = c.Disconnect(ctx)
	})
	return c
}

func connectedClient(t *testing.T, cfg client.Config) *client.Client {
	t.Helper()
	c := newClient(t, cfg)
	require.NoError(t, c.Connect(testContext(t)))
	return c
}

// waitStatus waits for the client to reach a status, bounded by
// testTimeout.
func waitStatus(t *testing.T, c *client.Client, want client.Status) {
	t.Helper()
	require.NoError(t, c.WaitStatus(testContext(t), want))
}

// stall blackholes b's links and gives c's connection 16 MiB of QoS 1
// publishes, more than the socket buffers hold, so paho's writer blocks.
func stall(t *testing.T, b *broker.Broker, c *client.Client) {
	t.Helper()
	b.Blackhole()
	t.Cleanup(b.Restore)
	payload := make([]byte, client.DefaultMaxPayloadSize)
	for range 128 {
		_, err := c.PublishAsync("stall", payload, client.QoS1, nil)
		require.NoError(t, err)
	}
}
