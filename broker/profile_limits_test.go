package broker_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

const sevenSlashes = "a/b/c/d/e/f/g/h"

// What AWS IoT Core accepts is answered as MQTT says, on the wire, by the
// AWS profile (the default).
func TestProfileAcceptsWhatAWSAccepts(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	for _, tc := range []struct {
		name  string
		send  func(c *rawClient) (packets.Packet, error)
		want  byte   // packet type
		codes []byte // SUBACK return codes
	}{
		{"payload of 131072 bytes", publishQoS1("p", bytes.Repeat([]byte("x"), 131072)), packets.Puback, nil},
		{"topic of 256 bytes", publishQoS1(strings.Repeat("t", 256), []byte("x")), packets.Puback, nil},
		{"topic with 7 slashes", publishQoS1(sevenSlashes, []byte("x")), packets.Puback, nil},
		{"Basic Ingest topic whose prefix is not counted", publishQoS1("$aws/rules/r/"+sevenSlashes, []byte("x")), packets.Puback, nil},
		{"publish to a shadow request topic", publishQoS1("$aws/things/T/shadow/update", []byte("{}")), packets.Puback, nil},
		{"SUBSCRIBE with 8 filters", subscribe(filters(8)...), packets.Suback, bytes.Repeat([]byte{1}, 8)},
		{"subscribe to a shadow response topic", subscribe("$aws/things/T/shadow/update/accepted"), packets.Suback, []byte{1}},
		{"subscribe to lifecycle events", subscribe("$aws/events/presence/+/+"), packets.Suback, []byte{1}},
		{"subscribe to all of $aws", subscribe("$aws/#"), packets.Suback, []byte{1}},
		{"shared subscription whose prefix is not counted", subscribe("$share/g/" + sevenSlashes), packets.Suback, []byte{1}},
		{"shared subscription group name of 128 characters", subscribe("$share/" + strings.Repeat("g", 128) + "/t"), packets.Suback, []byte{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, b.TCP(), clientIDFor(tc.name), 4, 60)
			pk, err := tc.send(c)
			require.NoError(t, err)
			require.Equal(t, tc.want, pk.FixedHeader.Type)
			if tc.codes != nil {
				require.Equal(t, tc.codes, pk.ReasonCodes)
			}
		})
	}
}

// What AWS IoT Core closes the link for, the profile closes it for, with
// nothing written (MQTT 3.1.1 has no server DISCONNECT), and the
// recorder's DISCONNECT says why, with AWS's reason CLIENT_ERROR.
func TestProfileClosesTheLinkForWhatAWSCloses(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	for _, tc := range []struct {
		name      string
		send      func(c *rawClient)
		wantCause string
	}{
		{"QoS 2 publish", func(c *rawClient) { c.publish("q", []byte("x"), 2, false) }, "QoS 2 PUBLISH"},
		{"payload of 131073 bytes", func(c *rawClient) { c.publish("p", bytes.Repeat([]byte("x"), 131073), 1, false) }, "payload of 131073 bytes"},
		{"topic of 257 bytes", func(c *rawClient) { c.publish(strings.Repeat("t", 257), []byte("x"), 1, false) }, "is 257 bytes"},
		{"topic with 8 slashes", func(c *rawClient) { c.publish(sevenSlashes+"/i", []byte("x"), 0, false) }, "has 8 slashes"},
		{"Basic Ingest topic with 8 slashes after its prefix", func(c *rawClient) { c.publish("$aws/rules/r/"+sevenSlashes+"/i", nil, 1, false) }, "has 8 slashes"},
		{"SUBSCRIBE with 9 filters", func(c *rawClient) { _, _ = c.subscribeAll(filters(9)...) }, "9 filters"},
		{"filter with 8 slashes", func(c *rawClient) { _, _ = c.subscribeAll(sevenSlashes + "/#") }, "has 8 slashes"},
		{"shared subscription group name of 129 characters", func(c *rawClient) { _, _ = c.subscribeAll("$share/" + strings.Repeat("g", 129) + "/t") }, "group name of 129 characters"},
		{"UNSUBSCRIBE of a 257-byte filter", func(c *rawClient) {
			c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: 1,
				Filters: packets.Subscriptions{{Filter: strings.Repeat("f", 257)}}})
		}, "is 257 bytes"},
		{"SUBSCRIBE at QoS 2", func(c *rawClient) {
			c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
				Filters: packets.Subscriptions{{Filter: "s", Qos: 2}}})
		}, "QoS 2"},
		{"publish to a shadow response topic", func(c *rawClient) { c.publish("$aws/things/T/shadow/update/accepted", []byte("{}"), 1, false) }, "does not let clients publish"},
		{"publish to an unknown $ topic", func(c *rawClient) { c.publish("$foo/x", []byte("x"), 0, false) }, "reserves"},
		{"publish to $SYS", func(c *rawClient) { c.publish("$SYS/broker/x", []byte("x"), 1, false) }, "reserves"},
		{"retained publish to a reserved topic", func(c *rawClient) { c.publish("$aws/things/T/shadow/update", []byte("{}"), 1, true) }, "retained publish to the reserved topic"},
		{"subscribe to $SYS", func(c *rawClient) { _, _ = c.subscribeAll("$SYS/#") }, "no reserved topic"},
		{"subscribe to Basic Ingest", func(c *rawClient) { _, _ = c.subscribeAll("$aws/rules/r") }, "no reserved topic"},
		{"subscribe to a publish-only reserved topic", func(c *rawClient) { _, _ = c.subscribeAll("$aws/certificates/create/json") }, "no reserved topic"},
		{"PUBREL", func(c *rawClient) {
			c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: 1})
		}, "PUBREL is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := clientIDFor(tc.name)
			c := dialRaw(t, b.TCP(), id, 4, 60)
			tc.send(c)
			require.NoError(t, c.closed(), "the broker must close the link with nothing written")
			d, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDisconnect, ClientID: id})
			require.NoError(t, err)
			require.Equal(t, broker.ReasonClientError, d.Reason)
			require.Contains(t, d.Cause, tc.wantCause)
			for _, k := range []broker.Kind{broker.KindPuback, broker.KindSuback, broker.KindUnsuback} {
				require.Zero(t, b.Events.Count(broker.Match{Kind: k, ClientID: id}), "no %v before the close", k)
			}
		})
	}
}

// paho completes a QoS 2 token on the PUBACK plain mochi sends, and waits
// for a SUBACK of 9 filters: against the profile both see the connection
// lost instead, as against AWS.
func TestProfileWithPaho(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	t.Run("QoS 2 publish", func(t *testing.T) {
		pc := connected(t, b, "paho-qos2")
		tok := pc.Publish("q", 2, false, "x")
		require.Error(t, waitLost(t, pc))
		require.True(t, tok.WaitTimeout(testTimeout))
		require.Error(t, tok.Error(), "the QoS 2 publish must not report success")
	})
	t.Run("9 filters", func(t *testing.T) {
		pc := connected(t, b, "paho-9")
		subs := map[string]byte{}
		for _, f := range filters(9) {
			subs[f] = 1
		}
		tok := pc.SubscribeMultiple(subs, func(paho.Client, paho.Message) {})
		require.Error(t, waitLost(t, pc))
		require.True(t, tok.WaitTimeout(testTimeout))
		require.Error(t, tok.Error())
	})
}

// A client id of 128 bytes connects; 129 bytes, or one starting with $
// (AWS reserves them), is refused: over MQTT 3.1.1 without CONNACK, over
// MQTT 5 with CONNACK 0x85.
func TestProfileClientIDs(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	dialRaw(t, b.TCP(), strings.Repeat("c", 128), 4, 60)
	for _, id := range []string{strings.Repeat("d", 129), "$device"} {
		c := openRaw(t, b.TCP(), 4)
		_, err := c.connect(id, 60)
		require.ErrorIs(t, err, io.EOF, "v3: closed without CONNACK")
		d, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDisconnect, ClientID: id})
		require.NoError(t, err)
		require.Equal(t, broker.ReasonClientError, d.Reason)
		require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindConnack, ClientID: id}))

		c5 := openRaw(t, b.TCP(), 5)
		ack, err := c5.connect(id+"-5", 60)
		require.NoError(t, err)
		require.Equal(t, packets.Connack, ack.FixedHeader.Type)
		require.Equal(t, packets.ErrClientIdentifierNotValid.Code, ack.ReasonCode)
	}
}

// A will with QoS 2 is refused without CONNACK over MQTT 3.1.1 (plain
// mochi answers with the MQTT 5 code 0x9B, invalid in 3.1.1).
func TestProfileRefusesWillQoS2(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	c := openRaw(t, b.TCP(), 4)
	_, err := c.connect("will-2", 60, func(pk *packets.Packet) {
		pk.Connect.WillFlag, pk.Connect.WillQos, pk.Connect.WillTopic, pk.Connect.WillPayload = true, 2, "w", []byte("gone")
	})
	require.ErrorIs(t, err, io.EOF)
	d, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDisconnect, ClientID: "will-2"})
	require.NoError(t, err)
	require.Contains(t, d.Cause, "will QoS 2")
}

func publishQoS1(topic string, payload []byte) func(*rawClient) (packets.Packet, error) {
	return func(c *rawClient) (packets.Packet, error) {
		c.publish(topic, payload, 1, false)
		return c.receive()
	}
}

func subscribe(filters ...string) func(*rawClient) (packets.Packet, error) {
	return func(c *rawClient) (packets.Packet, error) { return c.subscribeAll(filters...) }
}

func filters(n int) []string {
	var fs []string
	for i := range n {
		fs = append(fs, fmt.Sprintf("f/%d", i))
	}
	return fs
}

// clientIDFor makes a client id from a subtest's name.
func clientIDFor(name string) string { return strings.ReplaceAll(name, " ", "-") }
