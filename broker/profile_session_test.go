package broker_test

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// withWill gives a CONNECT a QoS 0 will on topic.
func withWill(topic string) func(*packets.Packet) {
	return func(pk *packets.Packet) {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, topic, []byte("gone")
	}
}

// A second CONNECT on a connection disconnects the client (C6: AWS's
// lifecycle CLIENT_ERROR), and its will is published.
func TestProfileSecondConnectOnAConnection(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	watcher := dialRaw(t, b.TCP(), "c6-watcher", 4, 60)
	watcher.subscribe("will/c6", 0)
	c := dialRaw(t, b.TCP(), "c6-twice", 4, 60, withWill("will/c6"))
	c.send(connectPacket("c6-twice", 60))
	require.NoError(t, c.closed())
	d, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDisconnect, ClientID: "c6-twice"})
	require.NoError(t, err)
	require.Equal(t, broker.ReasonClientError, d.Reason)
	require.Equal(t, "gone", string(watcher.nextPublish().Payload), "the will")
}

// MQTT 3.1 ("MQIsdp") is refused (C12: AWS supports 3.1.1 and 5): with
// CONNACK 1, unacceptable protocol version, as mochi answers; AWS's exact
// answer is not documented.
func TestProfileRefusesMQTT31(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	c := openRaw(t, b.TCP(), 3)
	ack, err := c.connect("v31", 60, func(pk *packets.Packet) { pk.Connect.ProtocolName = []byte("MQIsdp") })
	require.NoError(t, err)
	require.Equal(t, packets.Connack, ack.FixedHeader.Type)
	require.Equal(t, packets.Err3UnsupportedProtocolVersion.Code, ack.ReasonCode)
	require.NoError(t, c.closed())
}

// A persistent session keeps QoS 1 messages for its offline client, and
// not QoS 0 ones (S2): on resume only the QoS 1 one comes, and the QoS 0
// one was recorded as DROPPED.
func TestProfileSessionKeepsOnlyQoS1(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP(), testenv.QuickReconnects())
	ctx := testenv.Context(t)
	leaveSession(t, b, "s2", 4, "s2", persistent)
	require.ErrorIs(t, b.Publish(ctx, "s2", []byte("qos0"), 0, false), broker.ErrDropped)
	require.NoError(t, b.Publish(ctx, "s2", []byte("qos1"), 1, false))
	back := openRaw(t, b.TCP(), 4)
	ack, err := back.connect("s2", 1200, persistent)
	require.NoError(t, err)
	require.True(t, ack.SessionPresent)
	require.Equal(t, "qos1", string(back.nextPublish().Payload))
	require.NoError(t, b.Publish(ctx, "s2", []byte("live"), 0, false))
	require.Equal(t, "live", string(back.nextPublish().Payload), "nothing else was stored")
	require.Equal(t, 1, b.Events.Count(broker.Match{Kind: broker.KindDropped, ClientID: "s2"}))
}

// An MQTT 5 message expiry above AWS's 7 days is capped (V5): the
// subscriber sees 604,800 s.
func TestProfileCapsMessageExpiry(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		sub := dialRaw(t, b.TCP(), "v5-mei-sub", 5, 60)
		sub.subscribe("mei", 1)
		pub := dialRaw(t, b.TCP(), "v5-mei-pub", 5, 60)
		pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1, TopicName: "mei", Payload: []byte("x"),
			Properties: packets.Properties{MessageExpiryInterval: 700000}})
		got := sub.nextPublish()
		require.Equal(t, uint32(604800), got.Properties.MessageExpiryInterval)
		time.Sleep(10 * time.Second) // the remaining time, rewritten on delivery
		pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 2, TopicName: "mei", Payload: []byte("y"),
			Properties: packets.Properties{MessageExpiryInterval: 20}})
		require.Equal(t, uint32(20), sub.nextPublish().Properties.MessageExpiryInterval, "an expiry within the cap is kept")
	})
}

// An MQTT 5 client that connected with session expiry 0 cannot raise it
// on DISCONNECT (V7): a protocol error, DISCONNECT 0x82, and the link
// closes.
func TestProfileSessionExpiryCannotRiseOnDisconnect(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	c := dialRaw(t, b.TCP(), "v7", 5, 60)
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
		Properties: packets.Properties{SessionExpiryInterval: 3600, SessionExpiryIntervalFlag: true}})
	pk, err := c.receive()
	require.NoError(t, err)
	require.Equal(t, packets.Disconnect, pk.FixedHeader.Type)
	require.Equal(t, packets.ErrProtocolViolationZeroNonZeroExpiry.Code, pk.ReasonCode)
	require.NoError(t, c.closed())
}

// A SUBSCRIBE whose fixed-header flags are not 0010 closes the link, as
// AWS does (U6: CLIENT_ERROR).
func TestProfileMalformedFlagsClose(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	c := dialRaw(t, b.TCP(), "u6", 4, 60)
	_, err := c.conn.Write([]byte{0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x01}) // SUBSCRIBE with flags 0000
	require.NoError(t, err)
	require.NoError(t, c.closed())
	d, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDisconnect, ClientID: "u6"})
	require.NoError(t, err)
	require.Equal(t, broker.ReasonClientError, d.Reason)
}

// An MQTT 5 client with an empty client id is assigned one of AWS's
// form, $GEN/<uuid> (C5), in the CONNACK.
func TestProfileAssignsAWSClientIDs(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	ack, err := openRaw(t, b.TCP(), 5).connect("", 60)
	require.NoError(t, err)
	require.Zero(t, ack.ReasonCode)
	require.Regexp(t, `^\$GEN/[0-9a-f-]{36}$`, ack.Properties.AssignedClientID)
}
