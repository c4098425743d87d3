package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// stallWriter holds a client's lock, as mochi's writer does while a write
// to the client is stuck (a blackholed link whose socket buffers are full):
// that client's next write, and the numbering of a QoS 1 copy for it,
// wait. It returns the function that releases it (also run at cleanup).
func stallWriter(t *testing.T, b *broker.Broker, id string) (release func()) {
	t.Helper()
	cl, ok := b.Mochi().Clients.Get(id)
	require.True(t, ok)
	cl.Lock()
	released := false
	release = func() {
		if !released {
			released = true
			cl.Unlock()
		}
	}
	t.Cleanup(release)
	return release
}

// publishDrops publishes n messages from the broker and returns how many
// Publish reported as dropped.
func publishDrops(t *testing.T, b *broker.Broker, topic string, qos byte, n int) int {
	t.Helper()
	ctx := testenv.Context(t)
	dropped := 0
	for range n {
		err := b.Publish(ctx, topic, []byte("m"), qos, false)
		if errors.Is(err, broker.ErrDropped) {
			dropped++
			continue
		}
		require.NoError(t, err)
	}
	return dropped
}

// Every copy mochi drops is a DROPPED event with its reason, and makes the
// broker's Publish fail with ErrDropped.
func TestDropsAreRecorded(t *testing.T) {
	t.Parallel()
	t.Run("write queue full", func(t *testing.T) {
		b := broker.NewTLS(t, broker.WithPlainTCP(), broker.WithCapabilities(func(c *mqtt.Capabilities) { c.MaximumClientWritesPending = 1 }))
		c := dialRaw(t, b.TCP(), "slow", 4, 30)
		c.subscribe("q", 0)
		stallWriter(t, b, "slow")
		// One copy may be taken by the stalled writer, one fits the queue:
		// of three, at least one is dropped.
		dropped := publishDrops(t, b, "q", 0, 3)
		require.GreaterOrEqual(t, dropped, 1)
		evs := b.Events.Events(broker.Match{Kind: broker.KindDropped, ClientID: "slow"})
		require.Len(t, evs, dropped)
		require.Contains(t, evs[0].Cause, "write queue full")
		require.Equal(t, "q", evs[0].Topic)
		require.Equal(t, "m", string(evs[0].Payload))
	})
	t.Run("in-flight limit", func(t *testing.T) {
		b := broker.NewTLS(t, broker.WithPlainTCP(), broker.WithCapabilities(func(c *mqtt.Capabilities) { c.MaximumInflight = 2 }))
		c := dialRaw(t, b.TCP(), "no-acks", 4, 30)
		c.subscribe("q", 1) // and never acknowledge
		require.Equal(t, 1, publishDrops(t, b, "q", 1, 3), "the third copy finds two in flight")
		e, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDropped, ClientID: "no-acks"})
		require.NoError(t, err)
		require.Contains(t, e.Cause, "in-flight limit")
	})
	t.Run("subscriber offline", func(t *testing.T) {
		b := broker.NewTLS(t, broker.WithPlainTCP())
		ctx := testenv.Context(t)
		c := dialRaw(t, b.TCP(), "away", 4, 30, persistent)
		c.subscribe("q", 1)
		require.NoError(t, c.conn.Close())
		_, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "away"})
		require.NoError(t, err)
		require.Equal(t, 1, publishDrops(t, b, "q", 0, 1), "a session keeps no QoS 0 message")
		require.Zero(t, publishDrops(t, b, "q", 1, 1), "a QoS 1 message is kept for the session")
		e, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDropped, ClientID: "away"})
		require.NoError(t, err)
		require.Contains(t, e.Cause, "subscriber offline")
		require.Zero(t, e.QoS)
	})
	t.Run("larger than the client accepts", func(t *testing.T) {
		b := broker.NewTLS(t, broker.WithPlainTCP())
		c := dialRaw(t, b.TCP(), "small", 5, 30, func(pk *packets.Packet) { pk.Properties.MaximumPacketSize = 64 })
		c.subscribe("q", 0)
		// Queued for the client, then lost when its writer encodes it: the
		// DELIVER is recorded, then the DROPPED.
		require.NoError(t, b.Publish(testenv.Context(t), "q", make([]byte, 100), 0, false))
		e, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDropped, ClientID: "small"})
		require.NoError(t, err)
		require.Contains(t, e.Cause, "maximum packet size")
		d, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDeliver, ClientID: "small"})
		require.NoError(t, err)
		require.Less(t, d.Seq, e.Seq)
	})
	t.Run("client publish to $SYS", func(t *testing.T) {
		b := broker.NewTLS(t)
		pc := connected(t, b, "sys-writer")
		require.NoError(t, testenv.WaitToken(pc.Publish("$SYS/broker/uptime", 0, false, "0")))
		e, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDropped, ClientID: "sys-writer"})
		require.NoError(t, err)
		require.Equal(t, "$SYS/broker/uptime", e.Topic)
		require.Contains(t, e.Cause, "$SYS")
	})
}

// The broker's Publish returns when its context ends, even if a
// subscriber's writer is stuck; the message still goes out, in order, once
// the writer is free.
func TestPublishIsBoundedByItsContext(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	c := dialRaw(t, b.TCP(), "stuck", 4, 30)
	c.subscribe("b", 1)
	release := stallWriter(t, b, "stuck")

	const bound = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	err := b.Publish(ctx, "b", []byte("first"), 1, false)
	require.ErrorIs(t, err, broker.ErrPublishBlocked)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(start), bound)

	ctx2, cancel2 := context.WithTimeout(context.Background(), bound)
	defer cancel2()
	require.ErrorIs(t, b.Publish(ctx2, "b", []byte("never"), 1, false), broker.ErrPublishBlocked,
		"a later publish waits behind the blocked one")

	release()
	require.NoError(t, b.Publish(testenv.Context(t), "b", []byte("third"), 1, false))
	for _, want := range []string{"first", "third"} {
		pk, err := c.receive()
		require.NoError(t, err)
		require.Equal(t, want, string(pk.Payload))
	}
}
