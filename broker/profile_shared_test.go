package broker_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// payloadsOf returns the events' payloads, in order.
func payloadsOf(evs []broker.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, string(ev.Payload))
	}
	return out
}

// While no member of a shared subscription is online, AWS IoT Core queues
// its QoS 1 messages (a member has a persistent session) and loses QoS 0
// ones; when a member comes back, the queue goes out at 20 a second per
// member: exactly 50 ms apart, the first 50 ms after the CONNACK. The
// session itself stored none of them (mochi would have stored them all in
// the offline member's session, resent at once).
func TestProfileQueuesSharedMessagesWhileNoMemberIsOnline(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		ctx := testenv.Context(t)
		leaveSession(t, b, "member-a", 4, "$share/g/s", persistent)
		for _, p := range []string{"q0", "q1", "q2"} {
			require.NoError(t, b.Publish(ctx, "s", []byte(p), 1, false), "a queued message is not dropped")
		}
		err := b.Publish(ctx, "s", []byte("fire-and-forget"), 0, false)
		require.ErrorIs(t, err, broker.ErrDropped)
		lost := b.Events.Events(broker.Match{Kind: broker.KindDropped, ClientID: "$share/g/s"})
		require.Len(t, lost, 1)
		require.Contains(t, lost[0].Cause, "queues only QoS 1")

		time.Sleep(time.Second) // AWS admits one CONNECT per second per client id
		deliveries := broker.Match{Kind: broker.KindDeliver, ClientID: "member-a", After: b.Events.Seq()}
		back := openRaw(t, b.TCP(), 4)
		_, err = back.connect("member-a", 1200, persistent)
		require.NoError(t, err)
		connack := time.Now()
		time.Sleep(time.Second)
		synctest.Wait()
		got := b.Events.Events(deliveries)
		require.Equal(t, []string{"q0", "q1", "q2"}, payloadsOf(got))
		for i, ev := range got {
			require.Equal(t, time.Duration(i+1)*50*time.Millisecond, ev.At.Sub(connack), "queued message %d", i)
			require.False(t, ev.Dup, "a queued message is a first delivery")
			require.Equal(t, byte(1), ev.QoS)
		}
	})
}

// A message on a shared subscription goes to an online member, never into
// the session of an offline one (mochi picks any member: about half of
// these went to the offline member's session).
func TestProfileSharedMessagesGoToAnOnlineMember(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		ctx := testenv.Context(t)
		leaveSession(t, b, "away", 4, "$share/g/o", persistent)
		here := dialRaw(t, b.TCP(), "here", 4, 1200)
		here.subscribe("$share/g/o", 1)
		for range 20 {
			require.NoError(t, b.Publish(ctx, "o", []byte("live"), 1, false))
		}
		synctest.Wait()
		require.Equal(t, 20, b.Events.Count(broker.Match{Kind: broker.KindDeliver, ClientID: "here"}))

		time.Sleep(time.Second)
		back := openRaw(t, b.TCP(), 4)
		ack, err := back.connect("away", 1200, persistent)
		require.NoError(t, err)
		require.True(t, ack.SessionPresent)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDeliver, ClientID: "away"}), "nothing was stored for the offline member")
	})
}

// A queue drains at 20 a second per online member: with two members
// online, one message every 25 ms, each member getting every other one.
func TestProfileSharedQueueDrainsPerMember(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		ctx := testenv.Context(t)
		leaveSession(t, b, "sleeper", 4, "$share/g/d", persistent)
		for i := range 6 {
			require.NoError(t, b.Publish(ctx, "d", []byte{byte('0' + i)}, 1, false))
		}
		mark := b.Events.Seq()
		first := dialRaw(t, b.TCP(), "first", 4, 1200)
		second := dialRaw(t, b.TCP(), "second", 4, 1200)
		// Both SUBSCRIBEs in one instant: the second member is online
		// before the first delivery, 50 ms later.
		first.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: "$share/g/d", Qos: 1}}})
		second.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: "$share/g/d", Qos: 1}}})
		start := time.Now()
		time.Sleep(time.Second)
		synctest.Wait()
		got := b.Events.Events(broker.Match{Kind: broker.KindDeliver, After: mark})
		require.Len(t, got, 6)
		require.Equal(t, []string{"0", "1", "2", "3", "4", "5"}, payloadsOf(got))
		offsets := []time.Duration{50, 75, 100, 125, 150, 175}
		for i, ev := range got {
			require.Equal(t, offsets[i]*time.Millisecond, ev.At.Sub(start), "message %d", i)
			if i > 0 {
				require.NotEqual(t, got[i-1].ClientID, ev.ClientID, "the members take turns")
			}
		}
	})
}

// A group's queue is lost, and recorded as DROPPED, when the sessions of
// all its members end (AWS IoT Core's session expiry: 1 h).
func TestProfileSharedQueueEndsWithTheLastSession(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		ctx := testenv.ContextFor(t, 2*time.Hour)
		leaveSession(t, b, "gone", 4, "$share/g/e", persistent)
		offline := time.Now()
		require.NoError(t, b.Publish(ctx, "e", []byte("waiting"), 1, false))
		lost := broker.Match{Kind: broker.KindDropped, ClientID: "$share/g/e"}
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		require.Zero(t, b.Events.Count(lost), "the session, and the queue, are kept for an hour")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		evs := b.Events.Events(lost)
		require.Len(t, evs, 1)
		require.Equal(t, "waiting", string(evs[0].Payload))
		require.Contains(t, evs[0].Cause, "sessions ended")
		require.Equal(t, time.Hour+50*time.Millisecond, evs[0].At.Sub(offline), "lost at the next turn of the queue")
	})
}

// Without the profile, mochi keeps a QoS 1 message for an offline shared
// member in its session, and the broker says so: Publish reports no drop
// and the member gets it when it comes back.
func TestPlainMQTTKeepsSharedMessagesInTheSession(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP(), broker.WithPlainMQTT())
	ctx := testenv.Context(t)
	leaveSession(t, b, "plain-member", 4, "$share/g/p", persistent)
	require.NoError(t, b.Publish(ctx, "p", []byte("kept"), 1, false))
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDropped}))
	back := openRaw(t, b.TCP(), 4)
	_, err := back.connect("plain-member", 60, persistent)
	require.NoError(t, err)
	require.Equal(t, "kept", string(back.nextPublish().Payload))
}

// A shared subscription gets no retained message on subscribe, even on an
// exact filter (R1: AWS IoT Core's shared subscriptions "don't receive
// retained messages"; mochi skips them too).
func TestProfileSharedSubscriptionsGetNoRetainedMessage(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	ctx := testenv.Context(t)
	require.NoError(t, b.Publish(ctx, "r/shared", []byte("retained"), 1, true))
	c := dialRaw(t, b.TCP(), "shared-retain", 4, 60)
	c.subscribe("$share/g/r/shared", 1)
	require.NoError(t, b.Publish(ctx, "r/shared", []byte("live"), 1, false))
	require.Equal(t, "live", string(c.nextPublish().Payload), "the live message comes first: no retained one before it")
}

// A queued message whose MQTT 5 message expiry passes while it waits is
// not delivered: it is DROPPED, and the member gets only the live one.
func TestProfileSharedQueueHonoursMessageExpiry(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		leaveSession(t, b, "expiring-member", 5, "$share/g/x", persistentV5)
		pub := dialRaw(t, b.TCP(), "expiring-pub", 5, 1200)
		pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1, TopicName: "x", Payload: []byte("short-lived"),
			Properties: packets.Properties{MessageExpiryInterval: 2}})
		pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 2, TopicName: "x", Payload: []byte("lasting"),
			Properties: packets.Properties{MessageExpiryInterval: 60}})
		time.Sleep(4 * time.Second)
		back := openRaw(t, b.TCP(), 5)
		_, err := back.connect("expiring-member", 1200, persistentV5)
		require.NoError(t, err)
		require.Equal(t, "lasting", string(back.nextPublish().Payload))
		lost := b.Events.Events(broker.Match{Kind: broker.KindDropped, ClientID: "$share/g/x"})
		require.Len(t, lost, 1)
		require.Equal(t, "short-lived", string(lost[0].Payload))
		require.Contains(t, lost[0].Cause, "expiry passed")
	})
}

// A session mochi expires on its own clock (here first: the profile's
// clock runs at half speed) takes its shared subscriptions with it, so
// the group's queue is lost then, not kept for a member that is gone.
func TestProfileSharedQueueEndsWithASessionMochiExpires(t *testing.T) {
	t.Parallel()
	p := broker.AWSIoTCore()
	p.TimeScale = 2 // the profile's hour is two; mochi's stays one
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		ctx := testenv.ContextFor(t, 3*time.Hour)
		leaveSession(t, b, "expired-by-mochi", 4, "$share/g/m", persistent)
		require.NoError(t, b.Publish(ctx, "m", []byte("waiting"), 1, false))
		time.Sleep(time.Hour + 3*time.Second)
		synctest.Wait()
		lost := b.Events.Events(broker.Match{Kind: broker.KindDropped, ClientID: "$share/g/m"})
		require.Len(t, lost, 1)
		require.Contains(t, lost[0].Cause, "sessions ended")
	}, broker.WithProfile(p))
}

// Queued messages go to an MQTT 5 member no faster than its Receive
// Maximum allows unacknowledged (here 1), and their message expiry counts
// the time they waited.
func TestProfileSharedQueueRespectsTheMember(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		receiveOne := func(pk *packets.Packet) {
			persistentV5(pk)
			pk.Properties.ReceiveMaximum = 1
		}
		leaveSession(t, b, "slow-member", 5, "$share/g/slow", receiveOne)
		pub := dialRaw(t, b.TCP(), "slow-pub", 5, 1200)
		for i := range 3 {
			pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: uint16(i + 1), TopicName: "slow",
				Payload: []byte{byte('0' + i)}, Properties: packets.Properties{MessageExpiryInterval: 60}})
		}
		time.Sleep(10 * time.Second)
		back := openRaw(t, b.TCP(), 5)
		_, err := back.connect("slow-member", 1200, receiveOne)
		require.NoError(t, err)
		first := back.nextPublish()
		require.Equal(t, "0", string(first.Payload))
		require.Equal(t, uint32(50), first.Properties.MessageExpiryInterval, "60 s, less the 10 s it waited")
		time.Sleep(time.Second)
		synctest.Wait()
		deliveries := broker.Match{Kind: broker.KindDeliver, ClientID: "slow-member"}
		require.Equal(t, 1, b.Events.Count(deliveries), "one unacknowledged at a time")
		back.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: first.PacketID})
		require.Equal(t, "1", string(back.nextPublish().Payload))
	})
}
