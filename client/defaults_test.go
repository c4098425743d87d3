package client

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The zero Config means the AWS IoT Python SDK's defaults.
func TestDefaultsEqualThePythonSDK(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig("basicPubSub").withDefaults()
	require.False(t, cfg.PersistentSession, "clean session")
	require.False(t, cfg.UseWebsocket)
	require.Equal(t, 8883, cfg.Port)
	require.Equal(t, time.Second, cfg.BackoffBase)
	require.Equal(t, 32*time.Second, cfg.BackoffMax)
	require.Equal(t, 20*time.Second, cfg.StableConnectionTime)
	require.Zero(t, cfg.OfflineQueueLimit, "no bound")
	require.False(t, cfg.DisableOfflineQueue)
	require.Equal(t, DropNewest, cfg.OfflineQueueDrop)
	require.Equal(t, 2.0, cfg.DrainingFrequency)
	require.Equal(t, 30*time.Second, cfg.ConnectDisconnectTimeout)
	require.Equal(t, 5*time.Second, cfg.OperationTimeout)
	require.Equal(t, 600*time.Second, cfg.KeepAlive)
	require.False(t, cfg.DisableMetrics, "metrics on")
	require.Zero(t, cfg.BackoffJitter)
	require.False(t, cfg.RetryFirstConnect)
	require.Equal(t, 128*1024, cfg.MaxPayloadSize)

	ws := Config{ClientID: "ws", UseWebsocket: true}.withDefaults()
	require.Equal(t, 443, ws.Port)
	off := Config{KeepAlive: -time.Second}.withDefaults()
	require.Zero(t, off.keepAlive(), "negative disables keepalive")
}

// ConfigureOfflinePublishQueueing takes the Python SDK's queue sizes.
func TestConfigureOfflinePublishQueueingTakesPythonSizes(t *testing.T) {
	t.Parallel()
	var cfg Config
	cfg.ConfigureOfflinePublishQueueing(QueueInfinite, DropOldest)
	require.Equal(t, 0, cfg.OfflineQueueLimit)
	require.False(t, cfg.DisableOfflineQueue)
	require.Equal(t, DropOldest, cfg.OfflineQueueDrop)
	cfg.ConfigureOfflinePublishQueueing(QueueDisabled, DropNewest)
	require.True(t, cfg.DisableOfflineQueue)
	cfg.ConfigureOfflinePublishQueueing(10, DropNewest)
	require.Equal(t, 10, cfg.OfflineQueueLimit)
	require.False(t, cfg.DisableOfflineQueue)
}

// Every field a ConfigError can name for a Configure method names a real
// method, and the Python name follows from it.
func TestSetterTableNamesConfigureMethods(t *testing.T) {
	t.Parallel()
	methods := map[string]bool{
		"ConfigureLastWill": true, "ConfigureEndpoint": true, "ConfigureIAMCredentials": true,
		"ConfigureCredentials": true, "ConfigureAutoReconnectBackoffTime": true,
		"ConfigureOfflinePublishQueueing": true, "ConfigureDrainingFrequency": true,
		"ConfigureConnectDisconnectTimeout": true, "ConfigureMQTTOperationTimeout": true,
		"ConfigureUsernamePassword": true, "ConfigureSocketFactory": true,
	}
	for field, m := range setterOf {
		require.True(t, methods[m], "%s names %s", field, m)
	}
	require.Equal(t, "configureMQTTOperationTimeout", pythonName("ConfigureMQTTOperationTimeout"))
}
