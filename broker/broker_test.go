package broker_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/certs"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds the waits of raw clients in this package.
const testTimeout = testenv.Timeout

// pahoClient is a raw paho client wired for tests: MQTT 3.1.1, no automatic
// reconnect, and a channel for its connection-lost callbacks.
type pahoClient struct {
	paho.Client
	lost chan error
}

func newPaho(t *testing.T, addr string, tlsCfg *tls.Config, id string, adjust ...func(*paho.ClientOptions)) *pahoClient {
	t.Helper()
	scheme := "tcp"
	if tlsCfg != nil {
		scheme = "tls"
	}
	pc := &pahoClient{lost: make(chan error, 4)}
	opts := paho.NewClientOptions().
		AddBroker(scheme + "://" + addr).
		SetClientID(id).
		SetTLSConfig(tlsCfg).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectTimeout(5 * time.Second).
		SetWriteTimeout(5 * time.Second).
		SetConnectionLostHandler(func(_ paho.Client, err error) { pc.lost <- err })
	for _, a := range adjust {
		a(opts)
	}
	pc.Client = paho.NewClient(opts)
	t.Cleanup(func() { pc.Disconnect(0) })
	return pc
}

func connected(t *testing.T, b *broker.Broker, id string, adjust ...func(*paho.ClientOptions)) *pahoClient {
	t.Helper()
	pc := newPaho(t, b.MTLS().Addr, b.ClientTLSConfig(), id, adjust...)
	require.NoError(t, testenv.WaitToken(pc.Connect()))
	return pc
}

func waitLost(t *testing.T, pc *pahoClient) error {
	t.Helper()
	select {
	case err := <-pc.lost:
		return err
	case <-time.After(testTimeout):
		t.Fatal("connection-lost callback did not fire")
		return nil
	}
}

func TestMutualTLSConnectPublishSubscribe(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	pc := connected(t, b, "thing-1", func(o *paho.ClientOptions) {
		o.SetKeepAlive(30 * time.Second)
		o.SetUsername("user?SDK=Go")
	})

	got := make(chan paho.Message, 1)
	require.NoError(t, testenv.WaitToken(pc.Subscribe("sdk/test/go", 1, func(_ paho.Client, m paho.Message) { got <- m })))
	require.NoError(t, testenv.WaitToken(pc.Publish("sdk/test/go", 1, false, "hello")))
	select {
	case m := <-got:
		require.Equal(t, "hello", string(m.Payload()))
	case <-ctx.Done():
		t.Fatal("message not delivered")
	}

	c, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "thing-1"})
	require.NoError(t, err)
	require.Equal(t, uint16(30), c.Keepalive)
	require.True(t, c.CleanSession)
	require.Equal(t, "user?SDK=Go", c.Username)
	require.Equal(t, broker.DefaultThingName, c.PeerCN)
	require.NotEmpty(t, c.Remote)

	ack, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnack, ClientID: "thing-1"})
	require.NoError(t, err)
	require.Zero(t, ack.ReturnCode)
	require.Greater(t, ack.Seq, c.Seq)

	sub, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindSubscribe, ClientID: "thing-1"})
	require.NoError(t, err)
	require.Equal(t, []broker.TopicFilter{{Filter: "sdk/test/go", QoS: 1}}, sub.Filters)

	pub, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "sdk/test/go"})
	require.NoError(t, err)
	require.Equal(t, "hello", string(pub.Payload))
	require.Equal(t, byte(1), pub.QoS)
	require.False(t, pub.Dup)

	puback, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPuback, ClientID: "thing-1"})
	require.NoError(t, err)
	require.Equal(t, pub.PacketID, puback.PacketID)

	_, err = b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDeliver, ClientID: "thing-1", Topic: "sdk/test/go"})
	require.NoError(t, err)

	pc.Disconnect(100)
	d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "thing-1"})
	require.NoError(t, err)
	require.Empty(t, d.Cause, "a clean DISCONNECT has no cause")
}

func TestSNIAndALPN(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	cfg := b.ClientTLSConfig()
	cfg.ServerName = "localhost"
	cfg.NextProtos = []string{broker.ALPNMQTTCA}
	pc := newPaho(t, b.MTLS().Addr, cfg, "alpn-thing")
	require.NoError(t, testenv.WaitToken(pc.Connect()))

	c, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "alpn-thing"})
	require.NoError(t, err)
	require.Equal(t, "localhost", c.ServerName)
	require.Equal(t, broker.ALPNMQTTCA, c.ALPN)
}

func TestClientFilesWorkLikeADeviceKit(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	files := b.ClientFiles()
	pool, kp, err := certs.LoadDeviceFiles(files)
	require.NoError(t, err)
	cfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{kp.TLSCertificate()}, ServerName: b.MTLS().Host}
	pc := newPaho(t, b.MTLS().Addr, cfg, "file-thing")
	require.NoError(t, testenv.WaitToken(pc.Connect()))
}

func TestRefusesBadClientCertificates(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	other, err := certs.NewCA()
	require.NoError(t, err)
	expired, err := b.CA.IssueClient("old", certs.Expired())
	require.NoError(t, err)
	foreign, err := other.IssueClient("foreign")
	require.NoError(t, err)
	serverOnly, err := b.CA.IssueClient("server-usage", certs.WithoutClientAuth())
	require.NoError(t, err)

	tests := []struct {
		name      string
		cert      *certs.KeyPair
		wantCause string
	}{
		{"no certificate", nil, "didn't provide a certificate"},
		{"another CA", foreign, "unknown authority"},
		{"expired", expired, "expired"},
		{"no client-auth usage", serverOnly, "incompatible key usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testenv.Context(t)
			cfg := &tls.Config{RootCAs: b.CA.CertPool(), ServerName: b.MTLS().Host}
			if tt.cert != nil {
				cfg.Certificates = []tls.Certificate{tt.cert.TLSCertificate()}
			}
			mark := b.Events.Seq()
			pc := newPaho(t, b.MTLS().Addr, cfg, "bad-"+tt.name)
			err := testenv.WaitToken(pc.Connect())
			require.Error(t, err)

			f, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindTLSFailure, After: mark})
			require.NoError(t, err)
			require.Contains(t, f.Cause, tt.wantCause)
			require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindConnect, After: mark}), "no CONNECT may get through")
		})
	}
}

func TestCutLinks(t *testing.T) {
	t.Parallel()
	for _, mode := range []broker.CutMode{broker.FIN, broker.RST} {
		t.Run(mode.String(), func(t *testing.T) {
			b := broker.NewTLS(t)
			ctx := testenv.Context(t)
			pc := connected(t, b, "cut-"+mode.String())
			require.Equal(t, 1, b.CutLinks(mode))
			err := waitLost(t, pc)
			if mode == broker.RST {
				require.ErrorIs(t, err, syscall.ECONNRESET)
			} else {
				require.Contains(t, err.Error(), "EOF")
			}
			d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "cut-" + mode.String()})
			require.NoError(t, err)
			require.Equal(t, broker.ReasonConnectionLost, d.Reason)
			// The listener still accepts (another client id: AWS refuses
			// a second CONNECT with the same one within a second).
			connected(t, b, "after-cut-"+mode.String())
		})
	}
}

func TestRefuseThenAcceptOnSamePort(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	pc := connected(t, b, "refuse-thing")

	b.SetFault(broker.Refuse, true)
	_, err := net.DialTimeout("tcp", b.MTLS().Addr, time.Second)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.True(t, pc.IsConnectionOpen(), "existing links survive Refuse")

	require.NoError(t, b.SetFault(broker.Refuse, false))
	again := connected(t, b, "refuse-thing-2")
	require.True(t, again.IsConnectionOpen())
}

func TestHangUpRecordsEveryAttempt(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	mark := b.Events.Seq()
	b.SetFault(broker.HangUp, true)
	pc := newPaho(t, b.MTLS().Addr, b.ClientTLSConfig(), "hung")
	require.Error(t, testenv.WaitToken(pc.Connect()), "EOF, or a reset if the ClientHello was already in flight")
	a, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindAccept, After: mark})
	require.NoError(t, err)
	require.Equal(t, broker.FaultHangUp, a.Fault, "the accept was hung up")
	b.SetFault(broker.HangUp, false)
	// A fresh client: paho completes a failed Connect's token before it
	// resets its status, so connecting the same client again at once can
	// fail with "status can only transition to connecting from
	// disconnected".
	connected(t, b, "hung-2")
}

func TestBlackholeIsDetectedByKeepalive(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	pc := connected(t, b, "bh-thing", func(o *paho.ClientOptions) {
		o.SetKeepAlive(time.Second)
		o.SetPingTimeout(500 * time.Millisecond)
	})
	mark := b.Events.Seq()
	b.SetFault(broker.Blackhole, true)
	tok := pc.Publish("held", 0, false, "held")
	require.NoError(t, testenv.WaitToken(tok), "a QoS0 write succeeds into the hole")
	err := waitLost(t, pc)
	require.Contains(t, err.Error(), "pingresp not received")
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindPublish, Topic: "held", After: mark}), "held bytes are not delivered while blackholed")

	// A new connection gets through TCP but not through MQTT.
	stuck := newPaho(t, b.MTLS().Addr, b.ClientTLSConfig(), "bh-thing-2", func(o *paho.ClientOptions) { o.SetConnectTimeout(300 * time.Millisecond) })
	require.Error(t, testenv.WaitToken(stuck.Connect()))

	b.SetFault(broker.Blackhole, false)
	// The mochi side may already have dropped the session on its own
	// keepalive deadline; either way the held PUBLISH is now delivered or
	// the link is closed, and new clients get through.
	again := connected(t, b, "bh-thing-3")
	require.True(t, again.IsConnectionOpen())
	_, err = b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnack, ClientID: "bh-thing-3"})
	require.NoError(t, err)
}

func TestCutAndDisconnectOneClient(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	a := connected(t, b, "a")
	other := connected(t, b, "b")

	require.NoError(t, b.CutClient("a", broker.RST))
	require.ErrorIs(t, waitLost(t, a), syscall.ECONNRESET)
	require.True(t, other.IsConnectionOpen())

	require.NoError(t, b.DisconnectClient("b"))
	require.Contains(t, waitLost(t, other).Error(), "EOF")
	d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "b"})
	require.NoError(t, err)
	require.NotEmpty(t, d.Cause)

	require.ErrorContains(t, b.CutClient("nobody", broker.FIN), "not connected")
	require.ErrorContains(t, b.DisconnectClient("nobody"), "not connected")
}

func TestRestartKeepsPortsAndInboxesLosesSessions(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	inbox, err := b.Subscribe("up/#")
	require.NoError(t, err)
	pc := connected(t, b, "restart-thing", func(o *paho.ClientOptions) { o.SetCleanSession(false) })
	addr := b.MTLS().Addr

	require.NoError(t, b.Restart())
	require.Contains(t, waitLost(t, pc).Error(), "EOF")
	require.Equal(t, addr, b.MTLS().Addr)

	tok := pc.Connect()
	require.NoError(t, testenv.WaitToken(tok))
	require.False(t, tok.(*paho.ConnectToken).SessionPresent(), "sessions do not survive a restart")
	require.NoError(t, testenv.WaitToken(pc.Publish("up/1", 1, false, "after restart")))
	m, err := inbox.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, "after restart", string(m.Payload))
	require.Equal(t, "restart-thing", m.From)
}

func TestRejectConnectReturnCodes(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	for rc := byte(1); rc <= 5; rc++ {
		t.Run(fmt.Sprint(rc), func(t *testing.T) {
			require.NoError(t, b.SetFault(broker.RejectConnect(rc), true))
			mark := b.Events.Seq()
			pc := newPaho(t, b.MTLS().Addr, b.ClientTLSConfig(), "rejected")
			tok := pc.Connect()
			require.Error(t, testenv.WaitToken(tok))
			require.Equal(t, rc, tok.(*paho.ConnectToken).ReturnCode())
			ack, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnack, After: mark})
			require.NoError(t, err)
			require.Equal(t, rc, ack.ReturnCode)
		})
	}
	require.ErrorContains(t, b.SetFault(broker.RejectConnect(0), true), "not an MQTT 3.1.1 refusal")
	require.ErrorContains(t, b.SetFault(broker.RejectConnect(6), true), "not an MQTT 3.1.1 refusal")
	b.SetFault(broker.RejectConnect(5), false)
	connected(t, b, "allowed")
}

func TestWithholdPuback(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	pc := connected(t, b, "withheld")

	b.SetFault(broker.WithholdPuback, true)
	first := pc.Publish("t", 1, false, "first").(*paho.PublishToken)
	pub, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "t"})
	require.NoError(t, err)
	dropped, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindFault, Topic: "t"})
	require.NoError(t, err)
	require.Equal(t, pub.PacketID, dropped.PacketID)
	b.SetFault(broker.WithholdPuback, false)
	require.NoError(t, testenv.WaitToken(pc.Publish("t", 1, false, "second")))

	// mochi handles one client's packets in order, so the PUBACK for the
	// second PUBLISH proves none is coming for the first; it was recorded
	// before paho could see it.
	acks := b.Events.Events(broker.Match{Kind: broker.KindPuback, ClientID: "withheld"})
	require.Len(t, acks, 1)
	require.NotEqual(t, pub.PacketID, acks[0].PacketID)
	select {
	case <-first.Done():
		t.Fatal("the withheld publish completed")
	default:
	}
}

func TestAckWithoutDelivery(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	inbox, err := b.Subscribe("t")
	require.NoError(t, err)
	pc := connected(t, b, "acked")

	b.SetFault(broker.AckWithoutDelivery, true)
	require.NoError(t, testenv.WaitToken(pc.Publish("t", 1, false, "lost")), "the PUBACK arrives")
	_, err = b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindFault, Topic: "t"})
	require.NoError(t, err)
	b.SetFault(broker.AckWithoutDelivery, false)
	require.NoError(t, testenv.WaitToken(pc.Publish("t", 1, false, "kept")))
	m, err := inbox.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, "kept", string(m.Payload), "the first message was acknowledged but never delivered")
	require.Equal(t, 2, b.Events.Count(broker.Match{Kind: broker.KindPuback, ClientID: "acked"}))
}

func TestInlinePublishReachesClient(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	pc := connected(t, b, "listener")
	got := make(chan string, 1)
	require.NoError(t, testenv.WaitToken(pc.Subscribe("down/#", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })))
	require.NoError(t, b.Publish(ctx, "down/cmd", []byte("reboot"), 1, false))
	select {
	case p := <-got:
		require.Equal(t, "reboot", p)
	case <-ctx.Done():
		t.Fatal("inline publish not delivered")
	}
	inbox, err := b.Subscribe("x")
	require.NoError(t, err)
	inbox.Close()
	_, err = inbox.Next(ctx)
	require.ErrorIs(t, err, broker.ErrInboxClosed)
}

func TestPlainTCPListener(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	ctx := testenv.Context(t)
	pc := newPaho(t, b.TCP().Addr, nil, "plain")
	require.NoError(t, testenv.WaitToken(pc.Connect()))
	c, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "plain"})
	require.NoError(t, err)
	require.Equal(t, broker.ListenerTCP, c.Listener)
	require.Equal(t, 1, b.CutLinks(broker.FIN))
	waitLost(t, pc)
}

func TestCloseIsIdempotent(t *testing.T) {
	t.Parallel()
	b, err := broker.StartTLS()
	require.NoError(t, err)
	pc := newPaho(t, b.MTLS().Addr, b.ClientTLSConfig(), "closing")
	require.NoError(t, testenv.WaitToken(pc.Connect()))
	require.NoError(t, b.Close())
	require.NoError(t, b.Close())
	waitLost(t, pc)
	require.Error(t, b.Restart())
}

func TestStandaloneProxy(t *testing.T) {
	t.Parallel()
	// Plain MQTT: the client reconnects at once, which AWS IoT Core's
	// connect rate would refuse.
	b := broker.NewTLS(t, broker.WithPlainMQTT())
	ctx := testenv.Context(t)
	rec := broker.NewRecorder()
	// A second proxy in front of the broker's mutual-TLS proxy: TLS passes
	// through untouched and still verifies the broker's certificate.
	p, err := broker.NewProxy(b.MTLS().Addr, broker.ProxyWithRecorder(rec, "front"))
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })

	pc := newPaho(t, p.Addr(), b.ClientTLSConfig(), "via-proxy")
	require.NoError(t, testenv.WaitToken(pc.Connect()))
	a, err := rec.WaitFor(ctx, broker.Match{Kind: broker.KindAccept})
	require.NoError(t, err)
	require.Equal(t, "front", a.Listener)
	require.Equal(t, 1, p.Links())

	require.Equal(t, 1, p.CutLinks(broker.FIN))
	waitLost(t, pc)
	p.SetFault(broker.Refuse, true)
	_, err = net.DialTimeout("tcp", p.Addr(), time.Second)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.NoError(t, p.SetFault(broker.Refuse, false))
	require.NoError(t, testenv.WaitToken(pc.Connect()))
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
	require.ErrorContains(t, p.SetFault(broker.Refuse, false), "closed")
}

func TestRecorderWaitForTimesOutWithContext(t *testing.T) {
	t.Parallel()
	rec := broker.NewRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err := rec.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "never"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "topic=never")
}

func TestEventsCarryTheClientAddress(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	pc := connected(t, b, "addr-thing")
	c, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "addr-thing"})
	require.NoError(t, err)
	a, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindAccept, Where: func(e broker.Event) bool { return e.Remote == c.Remote }})
	require.NoError(t, err, "the CONNECT's address is the one the proxy accepted")
	require.Less(t, a.Seq, c.Seq)
	u, err := url.Parse("tcp://" + c.Remote)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1", u.Hostname())
	_ = pc
}

func TestRefuseSubscriptionAndDeliveryAcks(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	pc := connected(t, b, "subber")

	b.SetFault(broker.RefuseSubscription("secret/#"), true)
	tok := pc.Subscribe("secret/#", 1, nil)
	require.NoError(t, testenv.WaitToken(tok))
	require.Equal(t, byte(0x80), tok.(*paho.SubscribeToken).Result()["secret/#"])
	ack, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindSuback, ClientID: "subber"})
	require.NoError(t, err)
	require.Equal(t, []byte{0x80}, ack.ReturnCodes)

	b.SetFault(broker.RefuseSubscription("secret/#"), false)
	got := make(chan struct{}, 1)
	require.NoError(t, testenv.WaitToken(pc.Subscribe("secret/#", 1, func(paho.Client, paho.Message) { got <- struct{}{} })))
	require.NoError(t, b.Publish(ctx, "secret/x", []byte("p"), 1, false))
	testenv.Receive(t, ctx, got, "the delivery")
	d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDeliver, ClientID: "subber"})
	require.NoError(t, err)
	a, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDeliveryAck, ClientID: "subber"})
	require.NoError(t, err)
	require.Equal(t, d.PacketID, a.PacketID)
}

func TestWithoutMessageRecording(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithoutMessageRecording())
	ctx := testenv.Context(t)
	pc := connected(t, b, "quiet")
	require.NoError(t, testenv.WaitToken(pc.Publish("t", 1, false, "x")))
	require.NoError(t, testenv.WaitToken(pc.Subscribe("t", 1, nil)))
	_, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindSuback, ClientID: "quiet"})
	require.NoError(t, err)
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindPublish}))
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindPuback}))
	require.Equal(t, 1, b.Events.Count(broker.Match{Kind: broker.KindConnect}))
}
