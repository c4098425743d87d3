package broker_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// presence reads the next lifecycle event a watcher receives.
func (c *rawClient) presence(topic string) broker.PresenceEvent {
	c.t.Helper()
	pk := c.nextPublish()
	require.Equal(c.t, topic, pk.TopicName)
	var e broker.PresenceEvent
	require.NoError(c.t, json.Unmarshal(pk.Payload, &e))
	return e
}

// presenceOf reads lifecycle events until one of eventType, skipping at
// most one other (AWS may send a takeover's events in either order).
func (c *rawClient) presenceOf(eventType string) broker.PresenceEvent {
	c.t.Helper()
	for range 2 {
		var e broker.PresenceEvent
		require.NoError(c.t, json.Unmarshal(c.nextPublish().Payload, &e))
		if e.EventType == eventType {
			return e
		}
	}
	c.t.Fatalf("no %s event", eventType)
	return broker.PresenceEvent{}
}

// The profile publishes AWS's lifecycle events: connected, subscribed,
// unsubscribed, disconnected with the reason classified, version numbers
// per client id, a session identifier per session.
func TestProfileLifecycleEvents(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		watcher := dialRaw(t, b.TCP(), "watcher", 4, 1200)
		watcher.subscribe("$aws/events/+/+/dev", 0)
		alice := func(pk *packets.Packet) { pk.Connect.Username, pk.Connect.UsernameFlag = []byte("alice"), true }

		dev := dialRaw(t, b.TCP(), "dev", 4, 1200, alice)
		conn := watcher.presence(broker.TopicConnected + "dev")
		connack := b.Events.Events(broker.Match{Kind: broker.KindConnack, ClientID: "dev"})[0]
		require.Equal(t, "dev", conn.ClientID)
		require.Equal(t, "connected", conn.EventType)
		require.Equal(t, connack.At.UnixMilli(), conn.Timestamp)
		require.Len(t, conn.SessionIdentifier, 32)
		require.Equal(t, "alice", conn.PrincipalIdentifier, "without a certificate, the user name (custom authorizer)")
		require.Equal(t, "127.0.0.1", conn.IPAddress)
		require.Zero(t, conn.VersionNumber)
		require.Nil(t, conn.ClientInitiatedDisconnect)

		dev.subscribe("s/1", 1)
		pk := watcher.nextPublish()
		require.Equal(t, broker.TopicSubscribed+"dev", pk.TopicName)
		var sub broker.SubscriptionEvent
		require.NoError(t, json.Unmarshal(pk.Payload, &sub))
		require.Equal(t, []string{"s/1"}, sub.Topics)
		require.Equal(t, conn.SessionIdentifier, sub.SessionIdentifier)

		dev.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: 2,
			Filters: packets.Subscriptions{{Filter: "s/1"}}})
		require.Equal(t, broker.TopicUnsubscribed+"dev", watcher.nextPublish().TopicName)

		dev.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
		gone := watcher.presence(broker.TopicDisconnected + "dev")
		require.Equal(t, broker.ReasonClientInitiated, gone.DisconnectReason)
		require.True(t, *gone.ClientInitiatedDisconnect)
		require.Equal(t, conn.SessionIdentifier, gone.SessionIdentifier)
		require.Zero(t, gone.VersionNumber, "a connection's connect and disconnect share a version number")
		require.Empty(t, gone.IPAddress)

		// Each later connection of "dev" ends another way.
		for i, tc := range []struct {
			reason string
			end    func(c *rawClient)
		}{
			{broker.ReasonConnectionLost, func(*rawClient) { require.NoError(t, b.CutClient("dev", broker.FIN)) }},
			{broker.ReasonClientError, func(c *rawClient) { c.publish("q", []byte("x"), 2, false) }},
			{broker.ReasonServerInitiated, func(*rawClient) { require.NoError(t, b.DisconnectClient("dev")) }},
			{broker.ReasonKeepaliveTimeout, func(*rawClient) { // silent for 45 s (keepalive 5 s clamped to 30 s)
				_, err := b.Events.WaitFor(testenv.ContextFor(t, time.Minute), broker.Match{Kind: broker.KindDisconnect, ClientID: "dev", After: b.Events.Seq()})
				require.NoError(t, err)
			}},
			{broker.ReasonDuplicateID, func(*rawClient) {
				time.Sleep(time.Second)
				dialRaw(t, b.TCP(), "dev", 4, 1200)
			}},
		} {
			time.Sleep(time.Second) // AWS admits one CONNECT per second per client id
			c := dialRaw(t, b.TCP(), "dev", 4, 5)
			again := watcher.presence(broker.TopicConnected + "dev")
			require.EqualValues(t, i+1, again.VersionNumber)
			require.NotEqual(t, conn.SessionIdentifier, again.SessionIdentifier, "a clean session is a new session")
			tc.end(c)
			ended := watcher.presenceOf("disconnected")
			require.Equal(t, tc.reason, ended.DisconnectReason)
			require.False(t, *ended.ClientInitiatedDisconnect)
			require.EqualValues(t, i+1, ended.VersionNumber)
		}
		recorded := b.Events.Events(broker.Match{Kind: broker.KindDisconnect, ClientID: "dev"})
		require.Equal(t, broker.ReasonKeepaliveTimeout, recorded[4].Reason, "the recorder classifies the end as the event does")
	})
}

// Over mutual TLS the principal is the certificate id: the SHA-256 of the
// client certificate, in hex, as AWS IoT Core names certificates.
func TestProfileLifecyclePrincipalIsTheCertificateID(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	events := make(chan paho.Message, 4)
	watcher := connected(t, b, "cert-watcher")
	require.NoError(t, testenv.WaitToken(watcher.Subscribe(broker.TopicConnected+"cert-dev", 1, func(_ paho.Client, m paho.Message) { events <- m })))
	connected(t, b, "cert-dev")
	var e broker.PresenceEvent
	select {
	case m := <-events:
		require.NoError(t, json.Unmarshal(m.Payload(), &e))
	case <-testenv.Context(t).Done():
		t.Fatal("no connected event")
	}
	sum := sha256.Sum256(b.ClientCertificate().Cert.Raw)
	require.Equal(t, hex.EncodeToString(sum[:]), e.PrincipalIdentifier)
}

// The will is published on every end of a connection but a client's
// DISCONNECT: here a violation the profile closes the link for.
func TestProfileWillOnEveryEndButDisconnect(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	watcher := dialRaw(t, b.TCP(), "will-watcher", 4, 60)
	watcher.subscribe("will/#", 1)
	will := func(topic string) func(*packets.Packet) {
		return func(pk *packets.Packet) {
			pk.Connect.WillFlag, pk.Connect.WillQos, pk.Connect.WillTopic, pk.Connect.WillPayload = true, 1, topic, []byte("gone")
		}
	}
	polite := dialRaw(t, b.TCP(), "will-polite", 4, 60, will("will/polite"))
	polite.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	rude := dialRaw(t, b.TCP(), "will-rude", 4, 60, will("will/rude"))
	rude.publish("q", []byte("x"), 2, false)
	require.Equal(t, "will/rude", watcher.nextPublish().TopicName, "the violator's will, and none of the polite client's before it")
}
