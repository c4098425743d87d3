package client_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/certs"
	"github.com/iotmqtt/iotmqtt/client"
)

func TestDefaultsEqualThePythonSDK(t *testing.T) {
	cfg := client.DefaultConfig("basicPubSub")
	require.True(t, cfg.CleanSession)
	require.False(t, cfg.UseWebsocket)
	require.Equal(t, time.Second, cfg.BackoffBase)
	require.Equal(t, 32*time.Second, cfg.BackoffMax)
	require.Equal(t, 20*time.Second, cfg.StableConnectionTime)
	require.Equal(t, client.QueueInfinite, cfg.OfflineQueueSize)
	require.Equal(t, client.DropNewest, cfg.DropBehavior)
	require.Equal(t, 2.0, cfg.DrainingFrequency)
	require.Equal(t, 30*time.Second, cfg.ConnectDisconnectTimeout)
	require.Equal(t, 5*time.Second, cfg.OperationTimeout)
	require.Equal(t, 600*time.Second, cfg.KeepAlive)
	require.True(t, cfg.MetricsCollection)
	require.Zero(t, cfg.BackoffJitter)
	require.False(t, cfg.RetryFirstConnect)
	// The AWS constant values.
	require.Equal(t, client.DropBehavior(0), client.DropOldest)
	require.Equal(t, client.DropBehavior(1), client.DropNewest)
}

func TestNewNamesTheBadSetting(t *testing.T) {
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
		{"port 0", func(c *client.Config) { c.ConfigureEndpoint("host", 0) }, []string{"Port", "ConfigureEndpoint", "got 0"}},
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
		{"drop behaviour", func(c *client.Config) { c.ConfigureOfflinePublishQueueing(10, 7) }, []string{"DropBehavior", "ConfigureOfflinePublishQueueing"}},
		{"zero frequency", func(c *client.Config) { c.ConfigureDrainingFrequency(0) }, []string{"DrainingFrequency", "ConfigureDrainingFrequency"}},
		{"negative frequency", func(c *client.Config) { c.ConfigureDrainingFrequency(-2) }, []string{"DrainingFrequency"}},
		{"frequency too low to time", func(c *client.Config) { c.ConfigureDrainingFrequency(1e-10) }, []string{"DrainingFrequency", "too low", "1e+10 s"}},
		{"frequency too high to time", func(c *client.Config) { c.ConfigureDrainingFrequency(2e9) }, []string{"DrainingFrequency", "too high"}},
		{"payload limit beyond MQTT", func(c *client.Config) { c.MaxPayloadSize = 268435455 - 2 - 65535 - 2 + 1 }, []string{"MaxPayloadSize", "268369916"}},
		{"zero connect timeout", func(c *client.Config) { c.ConfigureConnectDisconnectTimeout(0) }, []string{"ConnectDisconnectTimeout", "ConfigureConnectDisconnectTimeout"}},
		{"negative operation timeout", func(c *client.Config) { c.ConfigureMQTTOperationTimeout(-time.Second) }, []string{"OperationTimeout", "ConfigureMQTTOperationTimeout"}},
		{"fractional keepalive", func(c *client.Config) { c.KeepAlive = 1500 * time.Millisecond }, []string{"KeepAlive", "whole number of seconds"}},
		{"will with wildcard", func(c *client.Config) { c.ConfigureLastWill("a/#", []byte("x"), client.QoS0, false) }, []string{"Will.Topic", "ConfigureLastWill"}},
		{"will QoS 2", func(c *client.Config) { c.ConfigureLastWill("a", []byte("x"), 2, false) }, []string{"Will.QoS", "QoS 2"}},
		{"websocket without region", func(c *client.Config) { c.UseWebsocket = true; c.ConfigureEndpoint("broker.example.com", 443) }, []string{"Region", "broker.example.com", "not an AWS IoT endpoint"}},
		{"half IAM credentials", func(c *client.Config) { c.ConfigureIAMCredentials("AKID", "", "") }, []string{"AccessKeyID/SecretAccessKey", "together"}},
		{"no credentials", func(c *client.Config) { c.ConfigureCredentials("", "", "") }, []string{"CAFile", "missing", "ConfigureCredentials"}},
		{"no key", func(c *client.Config) { c.ConfigureCredentials(fa.RootCA, "", fa.Cert) }, []string{"KeyFile", "missing"}},
		{"unreadable key", func(c *client.Config) { c.ConfigureCredentials(fa.RootCA, unreadable, fa.Cert) }, []string{"KeyFile", "missing.key", "no such file"}},
		{"unreadable CA", func(c *client.Config) { c.ConfigureCredentials(unreadable, fa.PrivateKey, fa.Cert) }, []string{"CAFile", "missing.key"}},
		{"garbage CA", func(c *client.Config) { c.ConfigureCredentials(garbage, fa.PrivateKey, fa.Cert) }, []string{"CAFile", "garbage.pem", "no PEM certificate"}},
		{"garbage certificate", func(c *client.Config) { c.ConfigureCredentials(fa.RootCA, fa.PrivateKey, garbage) }, []string{"KeyFile/CertFile", "garbage.pem"}},
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
	ca, err := certs.NewCA()
	require.NoError(t, err)
	kp, err := ca.IssueClient("mem")
	require.NoError(t, err)
	cfg := client.DefaultConfig("mem")
	cfg.ConfigureEndpoint("localhost", 8883)
	cfg.ConfigureCredentialsPEM(ca.CertPEM, kp.KeyPEM, kp.CertPEM)
	_, err = client.New(cfg)
	require.NoError(t, err)

	cfg.ConfigureCredentialsPEM(ca.CertPEM, []byte("junk"), kp.CertPEM)
	_, err = client.New(cfg)
	require.ErrorContains(t, err, "(in memory) the key")
}
