package client_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// A topic of n levels (n-1 slashes), each level one byte.
func levels(n int) string { return strings.TrimSuffix(strings.Repeat("l/", n), "/") }

// The client refuses, before sending, the topics AWS IoT Core closes the
// connection for, with an error naming the limit; requests it had already
// queued are kept and delivered, and the link is never put at risk.
func TestClientRefusesWhatAWSClosesTheLinkFor(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	c := testenv.Connect(t, deviceConfig(b, "limits"))
	goOffline(t, b, c)
	for i := range 3 {
		out, err := c.PublishAsync("limits/queued", []byte{byte('0' + i)}, client.QoS1, nil)
		require.NoError(t, err)
		require.Equal(t, client.Queued, out)
	}

	refused := []struct {
		topic, limit string
	}{
		{strings.Repeat("x", 257), "257 bytes, longer than AWS IoT Core's 256"},
		{levels(9), "8 slashes, more than AWS IoT Core's 7"},
		{"$aws/rules/r/" + levels(9), "8 slashes"},
	}
	for _, tt := range refused {
		_, err := c.PublishAsync(tt.topic, []byte("x"), client.QoS1, nil)
		require.ErrorIs(t, err, client.ErrInvalidTopic, "publish %.30q", tt.topic)
		require.ErrorContains(t, err, tt.limit)
		require.ErrorContains(t, err, "PlainMQTT")
		_, err = c.SubscribeAsync(tt.topic, client.QoS1, nil, func(client.Message) {})
		require.ErrorIs(t, err, client.ErrInvalidTopic, "subscribe %.30q", tt.topic)
		_, err = c.UnsubscribeAsync(tt.topic, nil)
		require.ErrorIs(t, err, client.ErrInvalidTopic, "unsubscribe %.30q", tt.topic)
	}
	longShareName := "$share/" + strings.Repeat("g", 129) + "/t"
	_, err := c.SubscribeAsync(longShareName, client.QoS1, nil, func(client.Message) {})
	require.ErrorIs(t, err, client.ErrInvalidTopic)
	require.ErrorContains(t, err, "group name of 129 characters, longer than AWS IoT Core's 128")

	require.NoError(t, b.SetFault(broker.Refuse, false))
	testenv.WaitStatus(t, c, client.StatusStable)
	// At the limits, and with the prefixes AWS does not count, the broker
	// (AWS IoT Core's profile) takes them and the link stays up.
	mark := b.Events.Seq()
	accepted := []string{strings.Repeat("x", 256), levels(8), "$aws/rules/r/" + levels(8)}
	for _, topic := range accepted {
		out, err := c.Publish(ctx, topic, []byte("x"), client.QoS1)
		require.NoError(t, err, "%.30q", topic)
		require.Equal(t, client.Sent, out)
	}
	_, err = c.Subscribe(ctx, "$share/group/"+levels(8), client.QoS1, func(client.Message) {})
	require.NoError(t, err)
	queued, err := b.Events.WaitForN(ctx, 3, broker.Match{Kind: broker.KindPublish, ClientID: "limits", Topic: "limits/queued"})
	require.NoError(t, err)
	require.Equal(t, []string{"0", "1", "2"}, payloads(queued))
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDisconnect, ClientID: "limits", After: mark}))
}

// An over-long client id is a configuration error naming the limit.
func TestClientIDOverAWSLimitIsAConfigError(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	_, err := client.New(deviceConfig(b, strings.Repeat("i", 129)))
	require.ErrorIs(t, err, client.ErrInvalidConfig)
	require.ErrorContains(t, err, "ClientID")
	require.ErrorContains(t, err, "longer than AWS IoT Core's 128")
}

// With PlainMQTT the client sends what MQTT allows to a broker that is not
// AWS IoT Core.
func TestPlainMQTTLiftsAWSLimits(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainMQTT())
	ctx := testenv.Context(t)
	cfg := deviceConfig(b, strings.Repeat("i", 129))
	cfg.PlainMQTT = true
	c := testenv.Connect(t, cfg)
	for _, topic := range []string{strings.Repeat("x", 257), levels(9)} {
		out, err := c.Publish(ctx, topic, []byte("x"), client.QoS1)
		require.NoError(t, err, "%.30q", topic)
		require.Equal(t, client.Sent, out)
		_, err = b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: topic})
		require.NoError(t, err)
	}
	_, err := c.Subscribe(ctx, levels(9), client.QoS1, func(client.Message) {})
	require.NoError(t, err)
	out, err := c.Publish(ctx, "big", make([]byte, client.DefaultMaxPayloadSize+1), client.QoS1)
	require.NoError(t, err, "the payload limit is MQTT's with PlainMQTT")
	require.Equal(t, client.Sent, out)
}
