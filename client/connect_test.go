package client_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/certs"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

func TestConnectSendsWhatAWSExpects(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	cfg := deviceConfig(b, "thing-1")
	c := testenv.Connect(t, cfg)
	require.Equal(t, client.StatusStable, c.Status())

	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "thing-1"})
	require.NoError(t, err)
	require.Equal(t, uint16(600), ev.Keepalive, "keepalive 600 s, as the Python SDK's connect()")
	require.True(t, ev.CleanSession)
	require.Equal(t, "?SDK=iotmqtt&Version="+client.Version, ev.Username)
	require.Equal(t, broker.DefaultThingName, ev.PeerCN, "the device certificate was presented")
	require.Empty(t, ev.ALPN, "no ALPN on 8883")
}

func TestSNIAndHostNameVerification(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	cfg := deviceConfig(b, "sni-thing")
	cfg.ConfigureEndpoint("localhost", b.MTLS().Port)
	cfg.ConfigureSocketFactory(b.MTLS().Proxy.DialContext)
	testenv.Connect(t, cfg)
	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "sni-thing"})
	require.NoError(t, err)
	require.Equal(t, "localhost", ev.ServerName, "SNI carries the endpoint's host name")

	// A server certificate for another name is refused.
	other := broker.NewTLS(t, broker.WithHosts("other.test"))
	cfg = deviceConfig(other, "mismatch")
	cfg.ConfigureEndpoint("localhost", other.MTLS().Port)
	c := testenv.NewClient(t, cfg)
	err = c.Connect(ctx)
	require.ErrorContains(t, err, "failed to verify certificate")
	require.ErrorContains(t, err, "localhost")
	require.Equal(t, client.StatusIdle, c.Status())
}

func TestPort443NegotiatesALPN(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	cfg := deviceConfig(b, "alpn-thing")
	cfg.ConfigureEndpoint("localhost", 443)
	cfg.ConfigureSocketFactory(b.MTLS().Proxy.DialContext)
	testenv.Connect(t, cfg)
	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "alpn-thing"})
	require.NoError(t, err)
	require.Equal(t, broker.ALPNMQTTCA, ev.ALPN)
}

func TestOnlyTheConfiguredCAIsTrusted(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	otherCA, err := certs.NewCA()
	require.NoError(t, err)
	dev, err := otherCA.IssueClient("stranger")
	require.NoError(t, err)
	files, err := certs.WriteDeviceFiles(t.TempDir(), "stranger", otherCA, dev)
	require.NoError(t, err)

	// The device trusts another CA: it refuses the broker.
	cfg := deviceConfig(b, "stranger")
	cfg.ConfigureCredentials(files.RootCA, b.ClientFiles().PrivateKey, b.ClientFiles().Cert)
	err = testenv.NewClient(t, cfg).Connect(ctx)
	require.ErrorContains(t, err, "certificate signed by unknown authority")
	_, err = b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindTLSFailure, Where: func(e broker.Event) bool {
		return strings.Contains(e.Cause, "bad certificate")
	}})
	require.NoError(t, err, "the broker saw the device abort the handshake")

	// The device's certificate comes from another CA: the broker refuses it.
	mark := b.Events.Seq()
	cfg = deviceConfig(b, "stranger")
	cfg.ConfigureCredentials(b.ClientFiles().RootCA, files.PrivateKey, files.Cert)
	err = testenv.NewClient(t, cfg).Connect(ctx)
	require.Error(t, err)
	ev, werr := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindTLSFailure, After: mark})
	require.NoError(t, werr)
	require.Contains(t, ev.Cause, "unknown authority")
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindConnect, After: mark}))
}

func TestRefusedConnackIsAnError(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	require.NoError(t, b.SetFault(broker.RejectConnect(5), true))
	cfg := deviceConfig(b, "refused")
	lc := watchLifecycle(&cfg)
	c := testenv.NewClient(t, cfg)

	err := c.Connect(ctx)
	var ce *client.ConnectError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, byte(5), ce.ReturnCode)
	require.ErrorIs(t, err, client.ErrConnectionRefused)
	require.ErrorContains(t, err, "not authorized")
	require.Equal(t, client.StatusIdle, c.Status())

	// ConnectAsync reports the same; OnOnline, which would be queued before
	// the ack, was never called.
	acked := make(chan error, 1)
	require.NoError(t, c.ConnectAsync(func(err error) { acked <- err }))
	select {
	case err := <-acked:
		require.ErrorAs(t, err, &ce)
	case <-ctx.Done():
		t.Fatal("no ack")
	}
	require.Empty(t, lc.online, "no online event for a refused connection")

	b.SetFault(broker.RejectConnect(5), false)
	testenv.WaitStatus(t, c, client.StatusIdle)
	require.NoError(t, c.Connect(ctx))
	lc.waitOnline(t)
}

func TestConnectTimeoutBoundsTheWholeHandshake(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		b.SetFault(broker.Blackhole, true) // TCP connects; TLS and CONNACK never complete
		cfg := deviceConfig(b, "slow")
		cfg.ConfigureConnectDisconnectTimeout(300 * time.Millisecond)
		c := testenv.NewClient(t, cfg)
		start := time.Now()
		err := c.Connect(context.Background())
		elapsed := time.Since(start)
		require.ErrorIs(t, err, client.ErrTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, 300*time.Millisecond, elapsed, "exactly the connect timeout")
		b.SetFault(broker.Blackhole, false)
	})
}

func TestConnectHonoursTheCallersContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		b.SetFault(broker.Blackhole, true)
		c := testenv.NewClient(t, deviceConfig(b, "ctx"))
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := c.Connect(ctx)
		require.ErrorIs(t, err, client.ErrTimeout)
		require.Equal(t, client.StatusIdle, c.Status())
		b.SetFault(broker.Blackhole, false)
	})
}

func TestRetryFirstConnect(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		ctx := testenv.Context(t)
		require.NoError(t, b.SetFault(broker.RejectConnect(3), true))
		cfg := deviceConfig(b, "patient")
		cfg.RetryFirstConnect = true
		c := testenv.NewClient(t, cfg)
		done := make(chan error, 1)
		go func() { done <- c.Connect(ctx) }()

		_, err := b.Events.WaitForN(ctx, 3, broker.Match{Kind: broker.KindConnack, ClientID: "patient"})
		require.NoError(t, err, "it keeps trying")
		b.SetFault(broker.RejectConnect(3), false)
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-ctx.Done():
			t.Fatal("Connect did not return")
		}
	})
}

func TestCallsBeforeConnectAndAfterDisconnect(t *testing.T) {
	t.Parallel()
	b := newBroker(t) // it reconnects at once, 4 times
	ctx := testenv.Context(t)
	c := testenv.NewClient(t, deviceConfig(b, "lifecycle"))

	check := func() {
		t.Helper()
		_, err := c.Publish(ctx, "t", nil, client.QoS1)
		require.ErrorIs(t, err, client.ErrNotConnected)
		_, err = c.PublishAsync("t", nil, client.QoS0, nil)
		require.ErrorIs(t, err, client.ErrNotConnected)
		_, err = c.Subscribe(ctx, "t", client.QoS1, nil)
		require.ErrorIs(t, err, client.ErrNotConnected)
		_, err = c.Unsubscribe(ctx, "t")
		require.ErrorIs(t, err, client.ErrNotConnected)
		require.ErrorIs(t, c.Disconnect(ctx), client.ErrNotConnected)
		require.ErrorIs(t, c.DisconnectAsync(nil), client.ErrNotConnected)
	}
	check()
	require.NoError(t, c.Connect(ctx))
	require.ErrorIs(t, c.Connect(ctx), client.ErrAlreadyConnected)
	require.ErrorIs(t, c.ConnectAsync(nil), client.ErrAlreadyConnected)
	require.NoError(t, c.Disconnect(ctx))
	require.Equal(t, client.StatusIdle, c.Status())
	check()

	// The same client connects again (the Python SDK's ClientReusability).
	for range 3 {
		require.NoError(t, c.Connect(ctx))
		out, err := c.Publish(ctx, "again", []byte("x"), client.QoS1)
		require.NoError(t, err)
		require.Equal(t, client.Sent, out)
		require.NoError(t, c.Disconnect(ctx))
	}
	require.Equal(t, 3, b.Events.Count(broker.Match{Kind: broker.KindPublish, Topic: "again"}))
}

func TestDisconnectIsPromptOnlineAndOffline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		ctx := testenv.Context(t)
		cfg := deviceConfig(b, "bye")
		lc := watchLifecycle(&cfg)
		c := testenv.Connect(t, cfg)
		lc.waitOnline(t)
		require.NoError(t, c.Disconnect(ctx))
		ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "bye"})
		require.NoError(t, err)
		require.Empty(t, ev.Cause, "a clean MQTT DISCONNECT")
		require.NoError(t, lc.waitOffline(t), "OnOffline(nil) after Disconnect")

		// Offline, in a long back-off: Disconnect stops the loop at once.
		cfg.ConfigureAutoReconnectBackoffTime(10*time.Second, 20*time.Second, 30*time.Second)
		time.Sleep(time.Second) // AWS admits one CONNECT per second per client id
		c2 := testenv.Connect(t, cfg)
		b.SetFault(broker.Refuse, true)
		b.CutLinks(broker.FIN)
		testenv.WaitStatus(t, c2, client.StatusConnecting)
		start := time.Now()
		require.NoError(t, c2.DisconnectAsync(func(err error) { lc.offline <- errors.New("disconnect ack") }))
		testenv.WaitStatus(t, c2, client.StatusIdle)
		require.Equal(t, time.Duration(0), time.Since(start), "no need to wait out the back-off")
		require.NoError(t, b.SetFault(broker.Refuse, false))
	})
}

func TestLastWillIsPublishedWhenTheLinkDies(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	inbox, err := b.Subscribe("things/+/status")
	require.NoError(t, err)
	cfg := deviceConfig(b, "mortal")
	cfg.ConfigureLastWill("things/mortal/status", []byte("gone"), client.QoS1, false)
	testenv.Connect(t, cfg)
	b.CutLinks(broker.RST)
	m, err := inbox.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, "things/mortal/status", m.Topic)
	require.Equal(t, "gone", string(m.Payload))
}

func TestUsernamePasswordWithoutMetrics(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	cfg := deviceConfig(b, "named")
	cfg.ConfigureUsernamePassword("alice", "secret")
	cfg.DisableMetricsCollection()
	testenv.Connect(t, cfg)
	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "named"})
	require.NoError(t, err)
	require.Equal(t, "alice", ev.Username)
}

// A ready tls.Config is a complete set of credentials; the host name is
// filled in for SNI and verification.
func TestInMemoryTLSConfig(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	cfg := client.Config{ClientID: "tlsconf", Host: "localhost", Port: b.MTLS().Port, TLSConfig: b.ClientTLSConfig(), Dialer: b.MTLS().Proxy.DialContext}
	cfg.TLSConfig.ServerName = ""
	c := testenv.Connect(t, cfg)
	out, err := c.Publish(ctx, "tlsconf", []byte("x"), client.QoS1)
	require.NoError(t, err)
	require.Equal(t, client.Sent, out)
	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "tlsconf"})
	require.NoError(t, err)
	require.Equal(t, "localhost", ev.ServerName)
	require.Equal(t, broker.DefaultThingName, ev.PeerCN)
}

// While the client stops, its status says so, requests are refused and
// Connect says why; DisconnectAsync's callback comes exactly once, also
// when there is nothing to disconnect.
func TestStoppingIsVisible(t *testing.T) {
	b := newBroker(t)
	ctx := testenv.Context(t)
	c := testenv.Connect(t, deviceConfig(b, "stopper"))
	stall(t, b, c) // the DISCONNECT cannot go out: stopping takes its quiesce time (250 ms)
	acks := make(chan error, 2)
	require.NoError(t, c.DisconnectAsync(func(err error) { acks <- err }))
	require.Equal(t, client.StatusStopping, c.Status())
	require.ErrorIs(t, c.Connect(ctx), client.ErrDisconnecting)
	_, err := c.Publish(ctx, "t", nil, client.QoS1)
	require.ErrorIs(t, err, client.ErrNotConnected)
	require.NoError(t, c.WaitStatus(ctx, client.StatusIdle))
	require.NoError(t, <-acks)

	require.ErrorIs(t, c.DisconnectAsync(func(err error) { acks <- err }), client.ErrNotConnected)
	require.ErrorIs(t, <-acks, client.ErrNotConnected, "called once, before DisconnectAsync returned")
	require.Empty(t, acks)
}
