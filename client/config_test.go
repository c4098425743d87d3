package client_test

import (
	"crypto/tls"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/certs"
	"github.com/iotmqtt/iotmqtt/client"
)

// DefaultConfig is the zero Config with a client id: New applies the
// defaults (defaults_test.go checks their values).
func TestDefaultConfigIsTheZeroConfig(t *testing.T) {
	t.Parallel()
	require.Equal(t, client.Config{ClientID: "basicPubSub"}, client.DefaultConfig("basicPubSub"))
}

func TestNewNamesTheBadSetting(t *testing.T) {
	t.Parallel()
	ca, err := certs.NewCA()
	require.NoError(t, err)
	a, err := ca.IssueClient("a")
	require.NoError(t, err)
	b, err := ca.IssueClient("b")
	require.NoError(t, err)
	dir := t.TempDir()
	fa, err := certs.WriteDeviceFiles(dir, "a", ca, a)
	require.NoError(t, err)
	fb, err := certs.WriteDeviceFiles(dir, "b", ca, b)
	require.NoError(t, err)
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not a certificate"), 0o600))
	unreadable := filepath.Join(dir, "missing.key")

	valid := func() client.Config {
		cfg := client.DefaultConfig("thing")
		cfg.ConfigureEndpoint("abc-ats.iot.us-east-1.amazonaws.com", 8883)
		cfg.ConfigureCredentials(fa.RootCA, fa.PrivateKey, fa.Cert)
		return cfg
	}
	_, err = client.New(valid())
	require.NoError(t, err, "the baseline is valid")

	tests := []struct {
		name   string
		modify func(*client.Config)
		want   []string
	}{
		{"empty client id", func(c *client.Config) { c.ClientID = "" }, []string{"ClientID", "must not be empty"}},
		{"long client id", func(c *client.Config) { c.ClientID = string(make([]byte, 129)) }, []string{"ClientID", "128"}},
		{"empty endpoint", func(c *client.Config) { c.ConfigureEndpoint("", 8883) }, []string{"Host", "ConfigureEndpoint"}},
		{"endpoint with scheme", func(c *client.Config) { c.ConfigureEndpoint("ssl://host", 8883) }, []string{"Host", "no scheme"}},
		{"negative port", func(c *client.Config) { c.ConfigureEndpoint("host", -1) }, []string{"Port", "ConfigureEndpoint", "got -1"}},
		{"port too big", func(c *client.Config) { c.ConfigureEndpoint("host", 70000) }, []string{"Port"}},
		{"negative base", func(c *client.Config) {
			c.ConfigureAutoReconnectBackoffTime(-time.Second, 32*time.Second, 20*time.Second)
		}, []string{"BackoffBase", "ConfigureAutoReconnectBackoffTime"}},
		{"negative max", func(c *client.Config) { c.ConfigureAutoReconnectBackoffTime(time.Second, -time.Second, 20*time.Second) }, []string{"BackoffMax"}},
		{"negative stable", func(c *client.Config) { c.ConfigureAutoReconnectBackoffTime(time.Second, 32*time.Second, -time.Second) }, []string{"StableConnectionTime"}},
		{"base >= stable", func(c *client.Config) {
			c.ConfigureAutoReconnectBackoffTime(200*time.Second, 300*time.Second, 30*time.Second)
		}, []string{"StableConnectionTime", "greater than BackoffBase"}},
		{"jitter", func(c *client.Config) { c.BackoffJitter = 1.5 }, []string{"BackoffJitter"}},
		{"drop behaviour", func(c *client.Config) { c.ConfigureOfflinePublishQueueing(10, 7) }, []string{"OfflineQueueDrop", "ConfigureOfflinePublishQueueing", "Python's configureOfflinePublishQueueing"}},
		{"negative queue limit", func(c *client.Config) { c.OfflineQueueLimit = -1 }, []string{"OfflineQueueLimit", "DisableOfflineQueue"}},
		{"negative frequency", func(c *client.Config) { c.ConfigureDrainingFrequency(-2) }, []string{"DrainingFrequency"}},
		{"frequency too low to time", func(c *client.Config) { c.ConfigureDrainingFrequency(1e-10) }, []string{"DrainingFrequency", "too low", "1e+10 s"}},
		{"frequency too high to time", func(c *client.Config) { c.ConfigureDrainingFrequency(2e9) }, []string{"DrainingFrequency", "too high"}},
		{"payload limit beyond MQTT", func(c *client.Config) { c.MaxPayloadSize = 268435455 - 2 - 65535 - 2 + 1 }, []string{"MaxPayloadSize", "268369916"}},
		{"negative connect timeout", func(c *client.Config) { c.ConfigureConnectDisconnectTimeout(-time.Second) }, []string{"ConnectDisconnectTimeout", "ConfigureConnectDisconnectTimeout"}},
		{"negative operation timeout", func(c *client.Config) { c.ConfigureMQTTOperationTimeout(-time.Second) }, []string{"OperationTimeout", "ConfigureMQTTOperationTimeout"}},
		{"fractional keepalive", func(c *client.Config) { c.KeepAlive = 1500 * time.Millisecond }, []string{"KeepAlive", "whole number of seconds"}},
		{"will with wildcard", func(c *client.Config) { c.ConfigureLastWill("a/#", []byte("x"), client.QoS0, false) }, []string{"Will.Topic", "ConfigureLastWill"}},
		{"will QoS 2", func(c *client.Config) { c.ConfigureLastWill("a", []byte("x"), 2, false) }, []string{"Will.QoS", "QoS 2"}},
		{"websocket without region", func(c *client.Config) { c.UseWebsocket = true; c.ConfigureEndpoint("broker.example.com", 443) }, []string{"Region", "broker.example.com", "not an AWS IoT endpoint"}},
		{"websocket without credentials", func(c *client.Config) {
			c.UseWebsocket = true
			c.ConfigureCredentials(fa.RootCA, "", "")
			c.ConfigureIAMCredentials("AKID", "", "") // half: ignored, as in the Python SDK
		}, []string{"Credentials", "awschain.Provider()", "ConfigureIAMCredentials"}},
		{"two credential sources", func(c *client.Config) { c.CAPEM = []byte("x") }, []string{"CAPEM", "more than one source", "files", "PEM bytes"}},
		{"files and a tls.Config", func(c *client.Config) { c.TLSConfig = &tls.Config{} }, []string{"TLSConfig", "more than one source"}},
		{"no credentials", func(c *client.Config) { c.ConfigureCredentials("", "", "") }, []string{"CAFile", "missing", "ConfigureCredentials"}},
		{"no key", func(c *client.Config) { c.ConfigureCredentials(fa.RootCA, "", fa.Cert) }, []string{"KeyFile", "missing"}},
		{"unreadable key", func(c *client.Config) { c.ConfigureCredentials(fa.RootCA, unreadable, fa.Cert) }, []string{"KeyFile", "missing.key", "no such file"}},
		{"unreadable CA", func(c *client.Config) { c.ConfigureCredentials(unreadable, fa.PrivateKey, fa.Cert) }, []string{"CAFile", "missing.key"}},
		{"garbage CA", func(c *client.Config) { c.ConfigureCredentials(garbage, fa.PrivateKey, fa.Cert) }, []string{"CAFile", "garbage.pem", "no PEM certificate"}},
		{"garbage certificate", func(c *client.Config) { c.ConfigureCredentials(fa.RootCA, fa.PrivateKey, garbage) }, []string{"CertFile", "garbage.pem"}},
		{"mismatched key and certificate", func(c *client.Config) { c.ConfigureCredentials(fa.RootCA, fb.PrivateKey, fa.Cert) }, []string{"b.private.key", "a.cert.pem", "does not match"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid()
			tt.modify(&cfg)
			c, err := client.New(cfg)
			require.Nil(t, c)
			require.ErrorIs(t, err, client.ErrInvalidConfig)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestInMemoryCredentials(t *testing.T) {
	t.Parallel()
	ca, err := certs.NewCA()
	require.NoError(t, err)
	kp, err := ca.IssueClient("mem")
	require.NoError(t, err)
	cfg := client.Config{ClientID: "mem", Host: "localhost", CAPEM: ca.CertPEM, KeyPEM: kp.KeyPEM, CertPEM: kp.CertPEM}
	_, err = client.New(cfg)
	require.NoError(t, err)

	cfg.KeyPEM = []byte("junk")
	_, err = client.New(cfg)
	require.ErrorContains(t, err, "(in memory) the key")
}

// A missing credential file is testable with errors.Is.
func TestMissingCredentialFileIsNotExist(t *testing.T) {
	t.Parallel()
	cfg := client.Config{ClientID: "x", Host: "localhost", CAFile: filepath.Join(t.TempDir(), "nope.pem")}
	_, err := client.New(cfg)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, err, client.ErrInvalidConfig)
	var ce *client.ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, "CAFile", ce.Field)
	require.Equal(t, "ConfigureCredentials", ce.Method)
}
