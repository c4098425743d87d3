package client_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// The seed's configuration (the Python basicPubSub sample), exactly: these
// tests run in a testing/synctest bubble, on the broker's in-memory network,
// where time moves only when everything waits, so the schedule is proved
// to the nanosecond in milliseconds of wall time.
func seedConfig(b *broker.Broker, clientID string) client.Config {
	cfg := testenv.DeviceConfig(b, clientID)
	cfg.ConfigureAutoReconnectBackoffTime(1*time.Second, 32*time.Second, 20*time.Second)
	cfg.ConfigureOfflinePublishQueueing(client.QueueInfinite, client.DropNewest)
	cfg.ConfigureDrainingFrequency(2)
	cfg.ConfigureConnectDisconnectTimeout(10 * time.Second)
	cfg.ConfigureMQTTOperationTimeout(5 * time.Second)
	return cfg
}

// virtualBroker starts the broker on the in-memory network; call it inside
// a testing/synctest bubble.
func virtualBroker(t *testing.T, opts ...broker.Option) *broker.Broker {
	return broker.NewTLS(t, append(opts, broker.WithMemoryNetwork())...)
}

// schedule bounds the waits of a test whose schedule spans minutes of
// virtual time.
const schedule = time.Hour

// sinceEach returns how long after from each event came.
func sinceEach(from time.Time, evs []broker.Event) []time.Duration {
	out := make([]time.Duration, len(evs))
	for i, e := range evs {
		out[i] = e.At.Sub(from)
	}
	return out
}

func seconds(s ...float64) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[i] = time.Duration(v * float64(time.Second))
	}
	return out
}

// cut cuts the client's link while new attempts are hung up on, and
// returns when the cut happened.
func cut(t *testing.T, b *broker.Broker) broker.Event {
	t.Helper()
	mark := b.Events.Seq()
	require.NoError(t, b.SetFault(broker.HangUp, true))
	b.CutLinks(broker.FIN)
	ev, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Fault: broker.FaultCut, After: mark})
	require.NoError(t, err)
	return ev
}

// After a cut, attempts come exactly 1, 3, 7, 15, 31, 63, 95 and 127 s
// later: waits of 1 s doubling up to 32 s.
func TestSeedBackoffScheduleExactly(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		ctx := testenv.ContextFor(t, schedule)
		testenv.Connect(t, seedConfig(b, "seed"))
		c := cut(t, b)
		attempts, err := b.Events.WaitForN(ctx, 8, broker.Match{Kind: broker.KindAccept, After: c.Seq})
		require.NoError(t, err)
		require.Equal(t, seconds(1, 3, 7, 15, 31, 63, 95, 127), sinceEach(c.At, attempts))
	})
}

// The back-off returns to its base only after a connection has stayed up
// for the stable time: up 20 s − 1 ns, the next waits stay at 32 s; up
// exactly 20 s, they start again at 1 s.
func TestSeedStableTimeEdgeExactly(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		up   time.Duration
		want []time.Duration
	}{
		{20*time.Second - time.Nanosecond, seconds(32, 64)},
		{20 * time.Second, seconds(1, 3)},
	} {
		t.Run(fmt.Sprint("up ", tt.up), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := virtualBroker(t)
				ctx := testenv.ContextFor(t, schedule)
				testenv.Connect(t, seedConfig(b, "edge"))
				// Grow the back-off to its maximum, then let an attempt in.
				c := cut(t, b)
				_, err := b.Events.WaitForN(ctx, 7, broker.Match{Kind: broker.KindAccept, After: c.Seq})
				require.NoError(t, err) // the 7th attempt, at 63 s, waited 32 s
				require.NoError(t, b.SetFault(broker.HangUp, false))
				back, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnack, ClientID: "edge", After: c.Seq})
				require.NoError(t, err)
				synctest.Wait() // the client has taken the CONNACK
				time.Sleep(tt.up - time.Since(back.At))
				c = cut(t, b)
				attempts, err := b.Events.WaitForN(ctx, 2, broker.Match{Kind: broker.KindAccept, After: c.Seq})
				require.NoError(t, err)
				require.Equal(t, tt.want, sinceEach(c.At, attempts))
			})
		})
	}
}

// 20 requests queued offline are drained at 2 Hz: the first the instant
// the connection is back (no subscription to renew), then exactly 500 ms
// apart.
func TestSeedDrainExactly(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		ctx := testenv.Context(t)
		c := testenv.Connect(t, seedConfig(b, "drain"))
		cut(t, b)
		testenv.WaitStatus(t, c, client.StatusConnecting)
		for i := range 20 {
			out, err := c.Publish(ctx, "drain", []byte(fmt.Sprint(i)), client.QoS1)
			require.NoError(t, err)
			require.Equal(t, client.Queued, out)
		}
		mark := b.Events.Seq()
		require.NoError(t, b.SetFault(broker.HangUp, false))
		back, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnack, ClientID: "drain", After: mark})
		require.NoError(t, err)
		pubs, err := b.Events.WaitForN(ctx, 20, broker.Match{Kind: broker.KindPublish, Topic: "drain", After: mark})
		require.NoError(t, err)
		want := make([]time.Duration, 20)
		for i := range want {
			want[i] = time.Duration(i) * 500 * time.Millisecond
		}
		require.Equal(t, want, sinceEach(back.At, pubs))
		require.Equal(t, payloads(pubs), []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
			"10", "11", "12", "13", "14", "15", "16", "17", "18", "19"})
	})
}

// Connect gives up exactly at the 10 s connect timeout against a
// blackholed link.
func TestSeedConnectTimeoutExactly(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		require.NoError(t, b.SetFault(broker.Blackhole, true))
		c := testenv.NewClient(t, seedConfig(b, "slow"))
		start := time.Now()
		err := c.Connect(context.Background())
		require.ErrorIs(t, err, client.ErrTimeout)
		require.Equal(t, 10*time.Second, time.Since(start))
		require.NoError(t, b.SetFault(broker.Blackhole, false))
	})
}

// A publish whose PUBACK never comes returns ErrTimeout exactly at the 5 s
// operation timeout, Pending.
func TestSeedOperationTimeoutExactly(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		c := testenv.Connect(t, seedConfig(b, "impatient"))
		require.NoError(t, b.SetFault(broker.WithholdPuback, true))
		start := time.Now()
		out, err := c.Publish(context.Background(), "t", []byte("x"), client.QoS1)
		require.ErrorIs(t, err, client.ErrTimeout)
		require.Equal(t, client.Pending, out)
		require.Equal(t, 5*time.Second, time.Since(start))
	})
}
