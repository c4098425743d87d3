package broker_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// inBubble runs body in a testing/synctest bubble with a broker on the
// in-memory network (plain TCP listener), so the AWS timers are exact.
func inBubble(t *testing.T, body func(t *testing.T, b *broker.Broker), opts ...broker.Option) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		body(t, broker.NewTLS(t, append(opts, broker.WithPlainTCP(), broker.WithMemoryNetwork())...))
	})
}

// A subscriber that never acknowledges gets exactly 100 QoS 1 deliveries;
// each PUBACK lets one more through.
func TestProfileHoldsAtMost100UnackedDeliveries(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		ctx := testenv.Context(t)
		sub := dialRaw(t, b.TCP(), "unacked", 4, 1200)
		sub.subscribe("q", 1)
		for range 150 {
			require.NoError(t, b.Publish(ctx, "q", []byte("m"), 1, false))
			time.Sleep(20 * time.Millisecond) // 50 a second: under the publish rate
		}
		synctest.Wait()
		deliveries := broker.Match{Kind: broker.KindDeliver, ClientID: "unacked"}
		require.Equal(t, 100, b.Events.Count(deliveries))
		first := b.Events.Events(deliveries)[0]
		sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: first.PacketID})
		synctest.Wait()
		require.Equal(t, 101, b.Events.Count(deliveries))
	})
}

// A subscriber that acknowledges as it goes gets every delivery, never
// more than 100 unacknowledged: each PUBACK, also of a delivery that was
// held for quota, lets the next one through. (mochi alone forgot the
// quota of released deliveries: deliveries stopped after 200.)
func TestProfileReleasesEveryHeldDelivery(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		ctx := testenv.Context(t)
		sub := dialRaw(t, b.TCP(), "acker", 4, 1200)
		sub.subscribe("q", 1)
		for range 250 {
			require.NoError(t, b.Publish(ctx, "q", []byte("m"), 1, false))
			time.Sleep(20 * time.Millisecond) // 50 a second: under the publish rate
		}
		synctest.Wait()
		got := 0
		for got < 250 {
			pk := sub.nextPublish()
			got++
			sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
			synctest.Wait()
			delivered := b.Events.Count(broker.Match{Kind: broker.KindDeliver, ClientID: "acker"})
			require.LessOrEqual(t, delivered-got, 100, "unacknowledged after %d acks", got)
		}
		require.Equal(t, 250, b.Events.Count(broker.Match{Kind: broker.KindDeliveryAck, ClientID: "acker"}))
	})
}

// A delivery released from the hold and lost with the link is redelivered
// when the persistent session resumes, as every unacknowledged QoS 1
// delivery is.
func TestProfileRedeliversReleasedDeliveries(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		ctx := testenv.Context(t)
		sub := dialRaw(t, b.TCP(), "resumer", 4, 1200, persistent)
		sub.subscribe("q", 1)
		for range 120 {
			require.NoError(t, b.Publish(ctx, "q", []byte("m"), 1, false))
			time.Sleep(20 * time.Millisecond)
		}
		synctest.Wait()
		var acked []uint16
		for range 10 { // frees quota: 10 held deliveries are released
			pk := sub.nextPublish()
			acked = append(acked, pk.PacketID)
			sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
		}
		synctest.Wait()
		require.Equal(t, 110, b.Events.Count(broker.Match{Kind: broker.KindDeliver, ClientID: "resumer"}))
		sub.conn.Close()
		synctest.Wait()

		time.Sleep(time.Second) // AWS admits one CONNECT per second per client id
		again := openRaw(t, b.TCP(), 4)
		ack, err := again.connect("resumer", 1200, persistent)
		require.NoError(t, err)
		require.True(t, ack.SessionPresent)
		ids := map[uint16]bool{}
		for range 110 { // the 100 unacknowledged (10 of them released), then the 10 still held
			pk := again.nextPublish()
			require.NotContains(t, acked, pk.PacketID, "an acknowledged delivery came again")
			ids[pk.PacketID] = true
			again.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
		}
		require.Len(t, ids, 110)
	})
}

// A resumed persistent session gets its stored messages at 10 a second,
// the first with the CONNACK, live messages in between at once; what the
// link loses before its turn stays in the session.
func TestProfileResumesStoredMessagesAtTenASecond(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		ctx := testenv.Context(t)
		sub := dialRaw(t, b.TCP(), "stored", 4, 1200, persistent)
		sub.subscribe("s", 1)
		sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
		synctest.Wait()
		for range 30 {
			require.NoError(t, b.Publish(ctx, "s", []byte("stored"), 1, false))
		}
		time.Sleep(time.Second) // AWS admits one CONNECT per second per client id
		deliveries := broker.Match{Kind: broker.KindDeliver, ClientID: "stored", After: b.Events.Seq()}
		back := openRaw(t, b.TCP(), 4)
		ack, err := back.connect("stored", 1200, persistent)
		require.NoError(t, err)
		require.True(t, ack.SessionPresent)
		connack := time.Now()

		time.Sleep(450 * time.Millisecond)
		require.NoError(t, b.Publish(ctx, "s", []byte("live"), 1, false))
		synctest.Wait()
		got := b.Events.Events(deliveries)
		require.Len(t, got, 6, "5 stored (at 0, 100 … 400 ms) and the live one")
		require.Equal(t, "live", string(got[5].Payload))
		require.Equal(t, 450*time.Millisecond, got[5].At.Sub(connack), "a live message does not wait")
		for i, ev := range got[:5] {
			require.Equal(t, time.Duration(i)*100*time.Millisecond, ev.At.Sub(connack), "stored message %d", i)
			require.True(t, ev.Dup)
		}

		back.conn.Close() // 25 stored ones not yet sent, 5 sent unacknowledged
		synctest.Wait()
		time.Sleep(time.Second)
		again := openRaw(t, b.TCP(), 4)
		_, err = again.connect("stored", 1200, persistent)
		require.NoError(t, err)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		stored := 0
		for _, ev := range b.Events.Events(deliveries) {
			if string(ev.Payload) == "stored" {
				stored++
			}
		}
		require.Equal(t, 5+30, stored, "the 5 sent before the cut again, and all 30 the second time")
	})
}

// A QoS 1 delivery still unacknowledged after an hour is dropped, as AWS
// stops retrying it then: recorded as DROPPED, and not resent when the
// session resumes; a younger one is.
func TestProfileDropsDeliveriesUnackedForAnHour(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		ctx := testenv.ContextFor(t, 2*time.Hour) // an hour of virtual time
		sub := dialRaw(t, b.TCP(), "forgetful", 4, 1200, persistent)
		sub.subscribe("u", 1)
		start := time.Now()
		require.NoError(t, b.Publish(ctx, "u", []byte("old"), 1, false))
		ping := func(until time.Duration) { // keeps the link up without acknowledging
			for time.Since(start) < until {
				time.Sleep(15 * time.Minute)
				sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
			}
		}
		ping(30 * time.Minute)
		require.NoError(t, b.Publish(ctx, "u", []byte("young"), 1, false))
		ping(45 * time.Minute)
		dropped := broker.Match{Kind: broker.KindDropped, ClientID: "forgetful"}
		time.Sleep(time.Until(start.Add(time.Hour - time.Second)))
		synctest.Wait()
		require.Zero(t, b.Events.Count(dropped), "an hour less a second: still kept")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		evs := b.Events.Events(dropped)
		require.Len(t, evs, 1)
		require.Equal(t, "old", string(evs[0].Payload))
		require.Contains(t, evs[0].Cause, "up to one hour")

		require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDisconnect, ClientID: "forgetful"}), "the link stayed up")
		sub.conn.Close()
		synctest.Wait()
		back := openRaw(t, b.TCP(), 4)
		ack, err := back.connect("forgetful", 1200, persistent)
		require.NoError(t, err)
		require.True(t, ack.SessionPresent)
		got := back.nextPublish()
		require.Equal(t, "young", string(got.Payload), "the young one is resent, the dropped one is not")
		require.True(t, got.FixedHeader.Dup)
	})
}

// A connection may publish 100 times a second: more are discarded without
// PUBACK and recorded as DROPPED, the connection stays up, and a second
// later there is room for 100 again.
func TestProfilePublishRateInbound(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		pub := dialRaw(t, b.TCP(), "fast", 4, 1200)
		acks := broker.Match{Kind: broker.KindPuback, ClientID: "fast"}
		for range 150 {
			pub.publish("r", []byte("m"), 1, false)
		}
		synctest.Wait()
		require.Equal(t, 100, b.Events.Count(acks))
		dropped := b.Events.Events(broker.Match{Kind: broker.KindDropped, ClientID: "fast"})
		require.Len(t, dropped, 50)
		require.Contains(t, dropped[0].Cause, "THROTTLED")

		time.Sleep(time.Second)
		for range 100 {
			pub.publish("r", []byte("m"), 1, false)
		}
		synctest.Wait()
		require.Equal(t, 200, b.Events.Count(acks))
		require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDisconnect, ClientID: "fast"}))
	})
}

// A connection receives at most 100 publishes a second: two publishers at
// their full rate reach a subscriber half the time.
func TestProfilePublishRateOutbound(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		sub := dialRaw(t, b.TCP(), "busy", 4, 1200)
		sub.subscribe("fan", 0)
		for _, id := range []string{"p1", "p2"} {
			pub := dialRaw(t, b.TCP(), id, 4, 1200)
			for range 100 {
				pub.publish("fan", []byte("m"), 0, false)
			}
		}
		synctest.Wait()
		require.Equal(t, 100, b.Events.Count(broker.Match{Kind: broker.KindDeliver, ClientID: "busy"}))
		require.Equal(t, 100, b.Events.Count(broker.Match{Kind: broker.KindDropped, ClientID: "busy"}))
	})
}

// With PublishRateExceeded Close (to be confirmed against AWS), the 101st
// publish in a second closes the link as THROTTLED.
func TestProfilePublishRateCanClose(t *testing.T) {
	t.Parallel()
	p := broker.AWSIoTCore()
	p.PublishRateExceeded = broker.Close
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		pub := dialRaw(t, b.TCP(), "abuser", 4, 1200)
		for range 101 {
			pub.publish("r", []byte("m"), 0, false)
		}
		require.NoError(t, pub.closed())
		d, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDisconnect, ClientID: "abuser"})
		require.NoError(t, err)
		require.Equal(t, broker.ReasonThrottled, d.Reason)
	}, broker.WithProfile(p))
}

// AWS IoT Core admits one CONNECT per second per client id: one sooner is
// closed without CONNACK (THROTTLED), one a second after the last admitted
// one is admitted. Exact, in virtual time.
func TestProfileOneConnectPerSecond(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		first := dialRaw(t, b.TCP(), "again", 4, 1200)
		first.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
		admitted := time.Now()

		time.Sleep(time.Second - time.Nanosecond)
		_, err := openRaw(t, b.TCP(), 4).connect("again", 1200)
		require.Error(t, err, "a CONNECT 1 s − 1 ns after the last must be refused")
		refused, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDisconnect, ClientID: "again",
			Where: func(e broker.Event) bool { return e.Reason == broker.ReasonThrottled }})
		require.NoError(t, err)
		require.Contains(t, refused.Cause, "allows one per 1s")

		time.Sleep(time.Until(admitted.Add(time.Second)))
		dialRaw(t, b.TCP(), "again", 4, 1200) // exactly 1 s after: admitted
		require.Equal(t, 2, b.Events.Count(broker.Match{Kind: broker.KindConnack, ClientID: "again"}))
	})
}

// A persistent session lasts 1 h after its connection ends: a client back
// after 1 h − 1 s finds it, one back after 1 h + 1 s does not.
func TestProfileSessionExpiresAfterAnHour(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		for _, id := range []string{"early", "late"} {
			c := dialRaw(t, b.TCP(), id, 4, 1200, persistent)
			c.subscribe("s", 1)
			c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
		}
		synctest.Wait()
		start := time.Now()
		for _, tc := range []struct {
			id      string
			at      time.Duration
			present bool
		}{{"early", time.Hour - time.Second, true}, {"late", time.Hour + time.Second, false}} {
			time.Sleep(time.Until(start.Add(tc.at)))
			ack, err := openRaw(t, b.TCP(), 4).connect(tc.id, 1200, persistent)
			require.NoError(t, err)
			require.Equal(t, tc.present, ack.SessionPresent, "%s, back after %v", tc.id, tc.at)
		}
	})
}

// AWS resumes no session across MQTT versions: an MQTT 3.1.1 persistent
// session is not present to the same client id over MQTT 5.
func TestProfileNoSessionAcrossVersions(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		c := dialRaw(t, b.TCP(), "versions", 4, 1200, persistent)
		c.subscribe("s", 1)
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
		time.Sleep(time.Second)
		ack, err := openRaw(t, b.TCP(), 5).connect("versions", 1200, persistentV5)
		require.NoError(t, err)
		require.Zero(t, ack.ReasonCode)
		require.False(t, ack.SessionPresent)
	})
}

// The same holds when the old connection is still up, either way round
// (also for an MQTT 5 session without expiry, which mochi alone hands to
// a 3.1.1 client asking for its session): the new connection takes the
// client id over (the old one is closed, DUPLICATE_CLIENTID) without its
// session: no stored message, no subscription.
func TestProfileNoSessionAcrossVersionsWhileConnected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		old, new    byte
		oldAsk, ask func(*packets.Packet)
	}{
		{"3.1.1 then 5", 4, 5, persistent, persistentV5},
		{"5 then 3.1.1", 5, 4, persistent, persistent}, // MQTT 5 Clean Start 0, no session expiry
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inBubble(t, func(t *testing.T, b *broker.Broker) {
				ctx := testenv.Context(t)
				old := dialRaw(t, b.TCP(), "versions-up", tc.old, 1200, tc.oldAsk)
				old.subscribe("v", 1)
				require.NoError(t, b.Publish(ctx, "v", []byte("unacked"), 1, false))
				require.Equal(t, "unacked", string(old.nextPublish().Payload)) // left unacknowledged
				time.Sleep(time.Second)
				mark := b.Events.Seq()
				c := openRaw(t, b.TCP(), tc.new)
				ack, err := c.connect("versions-up", 1200, tc.ask)
				require.NoError(t, err)
				require.Zero(t, ack.ReasonCode)
				require.False(t, ack.SessionPresent)
				d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "versions-up", After: mark})
				require.NoError(t, err)
				require.Equal(t, broker.ReasonDuplicateID, d.Reason)

				require.NoError(t, b.Publish(ctx, "v", []byte("after"), 1, false))
				time.Sleep(time.Second)
				synctest.Wait()
				require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDeliver, ClientID: "versions-up", After: mark}),
					"neither the stored message nor the subscription came across")
			})
		})
	}
}

// ConnectionLifetime closes a connection after its lifetime, as AWS may
// (SERVER_INITIATED_DISCONNECT); by default none is set.
func TestProfileConnectionLifetime(t *testing.T) {
	t.Parallel()
	p := broker.AWSIoTCore()
	p.ConnectionLifetime = 10 * time.Minute
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		dialRaw(t, b.TCP(), "aging", 4, 1200) // keepalive 20 minutes: no ping needed
		connack := b.Events.Events(broker.Match{Kind: broker.KindConnack, ClientID: "aging"})[0]
		d, err := b.Events.WaitFor(testenv.ContextFor(t, time.Hour), broker.Match{Kind: broker.KindDisconnect, ClientID: "aging"})
		require.NoError(t, err)
		require.Equal(t, broker.ReasonServerInitiated, d.Reason)
		require.Equal(t, 10*time.Minute, d.At.Sub(connack.At))
	}, broker.WithProfile(p))
}

// What a connection sends beyond 512 KiB a second is delayed, not dropped:
// 10 PUBLISHes of 100 KiB are all acknowledged, the last once the bytes
// beyond the first 512 KiB have had their time.
func TestProfileThroughputDelaysBeyond512KiBPerSecond(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		const n, size, topic = 10, 100 * 1024, "bulk"
		pub := dialRaw(t, b.TCP(), "bulk", 4, 1200)
		start := time.Now()
		for range n {
			pub.publish(topic, []byte(strings.Repeat("x", size)), 1, false)
		}
		acks, err := b.Events.WaitForN(testenv.Context(t), n, broker.Match{Kind: broker.KindPuback, ClientID: "bulk"})
		require.NoError(t, err)
		// The CONNECT: fixed header (2), variable header (10), client id
		// (2 + 4). Each PUBLISH: fixed header (1 + 3 length bytes), topic
		// (2 + len), packet id (2), payload.
		total := 2 + 10 + 2 + len("bulk") + n*(1+3+2+len(topic)+2+size)
		const rate = 512 * 1024
		want := time.Duration(float64(total-rate) / rate * float64(time.Second))
		require.InDelta(t, want, acks[n-1].At.Sub(start), float64(time.Microsecond),
			"the last PUBACK once the bytes beyond the first 512 KiB have passed at 512 KiB/s")
	})
}
