package client_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/certs"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// Slow failed attempts (connect timeout longer than the back-off) never
// turn into a burst of attempts once failures become fast: two attempts are
// never closer than the current wait.
func TestSlowAttemptsDoNotTurnIntoABurst(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		ctx := testenv.Context(t)
		cfg := deviceConfig(b, "burst")
		cfg.ConfigureAutoReconnectBackoffTime(50*time.Millisecond, 100*time.Millisecond, time.Second)
		cfg.ConfigureConnectDisconnectTimeout(500 * time.Millisecond)
		c := testenv.Connect(t, cfg)

		b.SetFault(broker.Blackhole, true) // attempts hang until the connect timeout
		b.CutLinks(broker.FIN)
		testenv.WaitStatus(t, c, client.StatusConnecting)
		slow := b.Events.Seq()
		_, err := b.Events.WaitForN(ctx, 4, broker.Match{Kind: broker.KindAccept, After: slow})
		require.NoError(t, err, "slow attempts, each failing after 500 ms")
		b.SetFault(broker.HangUp, true) // from the next attempt on, every attempt fails at once
		fast := b.Events.Seq()
		accepts, err := b.Events.WaitForN(ctx, 6, broker.Match{Kind: broker.KindAccept, After: fast})
		require.NoError(t, err)
		b.SetFault(broker.HangUp, false)
		b.SetFault(broker.Blackhole, false)
		closest := time.Hour
		for i := 1; i < len(accepts); i++ {
			gap := accepts[i].At.Sub(accepts[i-1].At)
			closest = min(closest, gap)
			require.GreaterOrEqual(t, gap, 100*time.Millisecond, "attempt %d came %v after the one before", i, gap)
		}
		t.Logf("closest attempts after slow ones: %v apart (wait 100 ms)", closest)
	})
}

// subackSwallower makes mochi read the next SUBSCRIBE packet without
// answering it once armed: the connection stays open and no SUBACK comes.
// Later SUBSCRIBEs are answered.
type subackSwallower struct {
	mqtt.HookBase
	armed atomic.Bool
}

func (h *subackSwallower) ID() string           { return "swallow-subscribe" }
func (h *subackSwallower) Provides(b byte) bool { return b == mqtt.OnPacketRead }

func (h *subackSwallower) OnPacketRead(_ *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Subscribe && h.armed.CompareAndSwap(true, false) {
		// A PUBACK for an unused packet id is read and ignored.
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 65535}, nil
	}
	return pk, nil
}

// When a renewed subscription gets no SUBACK, the client says so, does not
// report the subscriptions as renewed, and keeps the filter: it renews it on
// the next connection.
func TestRenewalWithoutSubackIsNotSilentlyLost(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		ctx := testenv.Context(t)
		var logs testenv.Buffer
		cfg := deviceConfig(b, "renewer")
		cfg.ConfigureMQTTOperationTimeout(300 * time.Millisecond)
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		got := make(chan string, 10)
		c := testenv.Connect(t, cfg)
		_, err := c.Subscribe(ctx, "cmd", client.QoS1, func(m client.Message) { got <- string(m.Payload) })
		require.NoError(t, err)

		swallow := &subackSwallower{}
		require.NoError(t, b.Mochi().AddHook(swallow, nil))
		swallow.armed.Store(true)
		mark := b.Events.Seq()
		b.CutLinks(broker.FIN)
		// The client gives up on that connection and renews on the next one.
		next, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindSuback, ClientID: "renewer", After: mark})
		require.NoError(t, err)
		require.Equal(t, []byte{1}, next.ReturnCodes)
		testenv.WaitStatus(t, c, client.StatusStable)
		require.Contains(t, logs.String(), "no SUBACK")
		require.NotContains(t, logs.String(), "subscriptions renewed filters=1 timeout")
		require.NoError(t, b.Publish(ctx, "cmd", []byte("still here"), 1, false))
		select {
		case p := <-got:
			require.Equal(t, "still here", p)
		case <-ctx.Done():
			t.Fatal("the subscription was lost")
		}
	})
}

// A connect attempt that runs out of time is always reported as the one
// timeout error, whichever step it was in.
func TestAConnectTimeoutIsAlwaysErrTimeout(t *testing.T) {
	b := newBroker(t)
	for i := range 40 {
		cfg := deviceConfig(b, fmt.Sprint("hasty-", i))
		cfg.ConfigureConnectDisconnectTimeout(time.Millisecond)
		c := testenv.NewClient(t, cfg)
		err := c.Connect(context.Background())
		if err == nil {
			require.NoError(t, c.Disconnect(context.Background()))
			continue
		}
		require.ErrorIs(t, err, client.ErrTimeout, "round %d: %v", i, err)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
}

// A certificate the broker refuses (TLS 1.3 reports it after the client's
// handshake) is a clear TLS error, without paho's "network Error" prefix.
func TestTLSRefusalIsAClearError(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	expired, err := b.CA.IssueClient("old", certs.Expired())
	require.NoError(t, err)
	cfg := deviceConfig(b, "old")
	cfg.ConfigureCredentials("", "", "")
	cfg.CAPEM, cfg.KeyPEM, cfg.CertPEM = b.CA.CertPEM, expired.KeyPEM, expired.CertPEM
	err = testenv.NewClient(t, cfg).Connect(ctx)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "network Error")
	require.ErrorIs(t, err, client.ErrTLSRefused)
	require.ErrorContains(t, err, "expired certificate")
	var alert *net.OpError
	require.ErrorAs(t, err, &alert, "the TLS alert is wrapped")
	require.Equal(t, "remote error", alert.Op)
}
