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

// nextPublish reads packets until a PUBLISH and returns it.
func (c *rawClient) nextPublish() packets.Packet {
	c.t.Helper()
	for range 10 {
		pk, err := c.receive()
		require.NoError(c.t, err)
		if pk.FixedHeader.Type == packets.Publish {
			return pk
		}
	}
	c.t.Fatal("no PUBLISH in 10 packets")
	return packets.Packet{}
}

// AWS IoT Core's "sensor/#" does not match "sensor" (MQTT's does): the
// profile delivers only "sensor/t", and mochi's plain matching both.
func TestProfileHashDoesNotMatchTheParent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		opts       []broker.Option
		wantParent bool
	}{{"AWS", nil, false}, {"plain MQTT", []broker.Option{broker.WithPlainMQTT()}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := broker.NewTLS(t, append(tc.opts, broker.WithPlainTCP())...)
			sub := dialRaw(t, b.TCP(), "parent-sub", 4, 60)
			sub.subscribe("sensor/#", 0)
			pub := dialRaw(t, b.TCP(), "parent-pub", 4, 60)
			for _, topic := range []string{"sensor", "sensor/t"} {
				_, err := publishQoS1(topic, []byte(topic))(pub)
				require.NoError(t, err)
			}
			first := sub.nextPublish()
			if tc.wantParent {
				require.Equal(t, "sensor", first.TopicName)
				return
			}
			require.Equal(t, "sensor/t", first.TopicName, "the publish to the parent level came first and must not be delivered")
			require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDeliver, ClientID: "parent-sub", Topic: "sensor"}))
		})
	}
}

// AWS IoT Core sends a retained message on subscribe only to a filter that
// names its topic exactly, and keeps MQTT 3 retained messages (mochi
// deletes them after a day unless told not to).
func TestProfileRetainedOnlyOnExactFilters(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	ctx := testenv.Context(t)
	pub := dialRaw(t, b.TCP(), "retain-pub", 4, 60)
	pub.publish("a/b", []byte("kept"), 1, true)
	_, err := pub.receive()
	require.NoError(t, err)

	for _, filter := range []string{"a/#", "a/+", "#"} {
		id := "retain-" + filter
		sub := dialRaw(t, b.TCP(), id, 4, 60)
		sub.subscribe(filter, 1)
		require.NoError(t, b.Publish(ctx, "a/live", []byte("live"), 0, false))
		for got := sub.nextPublish(); got.TopicName != "a/live"; got = sub.nextPublish() {
			// Only the retained message's own live delivery may come first
			// (its PUBACK precedes its fan-out), and it is not marked retained.
			require.False(t, got.FixedHeader.Retain, "filter %s: a retained message before the live one", filter)
		}
	}
	exact := dialRaw(t, b.TCP(), "retain-exact", 4, 60)
	exact.subscribe("a/b", 1)
	got := exact.nextPublish()
	require.Equal(t, "a/b", got.TopicName)
	require.Equal(t, []byte("kept"), got.Payload)
	require.True(t, got.FixedHeader.Retain)
}

// AWS IoT Core keeps an MQTT 3 retained message for good (three years
// since last used); mochi's sweep, each second, deletes one older than a
// day unless told not to. A retained message made 25 hours old is still
// there after the sweep has run.
func TestProfileRetainedMessagesDoNotExpire(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  broker.Option
		kept bool
	}{{"AWS IoT Core", broker.WithProfile(broker.AWSIoTCore()), true}, {"plain MQTT", broker.WithPlainMQTT(), false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inBubble(t, func(t *testing.T, b *broker.Broker) {
				pub := dialRaw(t, b.TCP(), "old-retain-pub", 4, 1200)
				pub.publish("r/old", []byte("a day and more"), 1, true)
				_, err := pub.receive()
				require.NoError(t, err)
				retained := b.Mochi().Topics.Retained
				pk, ok := retained.Get("r/old")
				require.True(t, ok)
				pk.Created = time.Now().Add(-25 * time.Hour).Unix()
				retained.Add("r/old", pk)
				time.Sleep(3 * time.Second) // mochi's sweep runs every second
				synctest.Wait()
				_, ok = retained.Get("r/old")
				require.Equal(t, tc.kept, ok)
				if tc.kept {
					sub := dialRaw(t, b.TCP(), "old-retain-sub", 4, 1200)
					sub.subscribe("r/old", 1)
					require.Equal(t, "a day and more", string(sub.nextPublish().Payload))
				}
			}, tc.opt)
		})
	}
}

// Basic Ingest ($aws/rules/<rule>/…) is acknowledged and goes to the rules
// engine only: no subscriber gets it.
func TestProfileBasicIngestReachesNoSubscriber(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	ctx := testenv.Context(t)
	all := dialRaw(t, b.TCP(), "ingest-all", 4, 60)
	all.subscribe("#", 1)
	aws := dialRaw(t, b.TCP(), "ingest-aws", 4, 60)
	aws.subscribe("$aws/things/#", 1)
	pub := dialRaw(t, b.TCP(), "ingest-pub", 4, 60)
	ack, err := publishQoS1("$aws/rules/myRule/telemetry", []byte("t"))(pub)
	require.NoError(t, err)
	require.Equal(t, packets.Puback, ack.FixedHeader.Type)

	require.NoError(t, b.Publish(ctx, "marker", []byte("m"), 1, false))
	require.NoError(t, b.Publish(ctx, "$aws/things/T/shadow/update/documents", []byte("{}"), 1, false))
	require.Equal(t, "marker", all.nextPublish().TopicName)
	require.Equal(t, "$aws/things/T/shadow/update/documents", aws.nextPublish().TopicName)
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDeliver, Topic: "$aws/rules/myRule/telemetry"}))
}
