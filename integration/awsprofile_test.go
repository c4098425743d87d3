package integration_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// The scenarios below are AWS IoT Core's own behaviour: the embedded
// broker's profile reproduces it, and with -aws -endpoint … they run
// against a real account, so the profile (and its "to be confirmed"
// defaults) can be checked there in one command. The endpoint's policy
// must allow the scenario's client ids and topics (-clientId*,
// -topicPrefix/*, retained publishes to them) and subscriptions to
// $aws/events/presence/*.

// awsScenario runs body against the embedded broker (in virtual time, with
// opts) or AWS IoT Core, and skips it against other brokers.
func awsScenario(t *testing.T, body func(t *testing.T, e *env), opts ...broker.Option) {
	t.Helper()
	awsOnly(t, "this is AWS IoT Core's behaviour, which other brokers do not have")
	scenario(t, body, opts...)
}

// limitTopic is a topic of the scenario with exactly slashes slashes and
// bytes bytes (its last level padded).
func (e *env) limitTopic(slashes, bytes int) string {
	base := e.topic("")
	for strings.Count(base, "/") < slashes {
		base += "l/"
	}
	base += "x"
	require.LessOrEqual(e.t, len(base), bytes, "the -topicPrefix is too long for this scenario")
	return base + strings.Repeat("x", bytes-len(base))
}

// What AWS IoT Core closes the connection for, sent by a plain paho client
// (iotmqtt's client refuses to send it): the connection ends, with no
// MQTT reply.
func TestAWSClosesTheConnectionFor(t *testing.T) {
	t.Parallel()
	awsScenario(t, func(t *testing.T, e *env) {
		nine := map[string]byte{}
		for i := range 9 {
			nine[e.topic(fmt.Sprint("f", i))] = 1
		}
		cases := []struct {
			name string
			send func(c *testenv.RawClient)
		}{
			{"QoS 2 publish", func(c *testenv.RawClient) { c.Publish(e.topic("qos2"), 2, false, "x") }},
			{"payload of 131,073 bytes", func(c *testenv.RawClient) { c.Publish(e.topic("big"), 1, false, make([]byte, 128*1024+1)) }},
			{"topic of 257 bytes", func(c *testenv.RawClient) { c.Publish(e.limitTopic(5, 257), 1, false, "x") }},
			{"topic with 8 slashes", func(c *testenv.RawClient) { c.Publish(e.limitTopic(8, 40), 1, false, "x") }},
			{"SUBSCRIBE with 9 filters", func(c *testenv.RawClient) { c.SubscribeMultiple(nine, nil) }},
		}
		for i, tc := range cases {
			id := e.clientID(fmt.Sprint("closed", i))
			c := e.Raw(t, id)
			tc.send(c)
			testenv.Receive(t, testenv.Context(t), c.Lost, "the connection closed for a "+tc.name)
			if e.Broker != nil {
				ev, err := e.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDisconnect, ClientID: id})
				require.NoError(t, err)
				require.Equal(t, broker.ReasonClientError, ev.Reason, tc.name)
			}
		}
	})
}

// What is within AWS IoT Core's limits, at the limit, is acknowledged and
// the connection stays up.
func TestAWSAcceptsWhatIsWithinItsLimits(t *testing.T) {
	t.Parallel()
	awsScenario(t, func(t *testing.T, e *env) {
		c := e.Raw(t, e.clientID("limits"))
		eight := map[string]byte{}
		for i := range 8 {
			eight[e.topic(fmt.Sprint("f", i))] = 1
		}
		require.NoError(t, testenv.WaitToken(c.Publish(e.topic("big"), 1, false, make([]byte, 128*1024))), "payload of 131,072 bytes")
		require.NoError(t, testenv.WaitToken(c.Publish(e.limitTopic(5, 256), 1, false, "x")), "topic of 256 bytes")
		require.NoError(t, testenv.WaitToken(c.Publish(e.limitTopic(7, 40), 1, false, "x")), "topic with 7 slashes")
		require.NoError(t, testenv.WaitToken(c.SubscribeMultiple(eight, nil)), "SUBSCRIBE with 8 filters")
		require.True(t, c.IsConnectionOpen())
		require.Empty(t, c.Lost)
	})
}

// "sensor/#" does not receive "sensor" on AWS; and a retained message is
// delivered on subscribe only to a filter that names its topic exactly.
func TestAWSWildcardAndRetainedRules(t *testing.T) {
	t.Parallel()
	awsScenario(t, func(t *testing.T, e *env) {
		ctx := testenv.Context(t)
		c := e.connect(e.config("rules"))
		under := make(chan client.Message, 10)
		parent := e.topic("sensor")
		_, err := c.Subscribe(ctx, parent+"/#", client.QoS1, func(m client.Message) { under <- m })
		require.NoError(t, err)
		for _, topic := range []string{parent, parent + "/t"} {
			_, err = c.Publish(ctx, topic, []byte(topic), client.QoS1)
			require.NoError(t, err)
		}
		// Both came from one connection, the parent's first: had it been
		// delivered, it would be the first to arrive.
		require.Equal(t, parent+"/t", testenv.Receive(t, ctx, under, "the child's message").Topic)

		raw := e.Raw(t, e.clientID("retainer"))
		retained := e.topic("kept")
		require.NoError(t, testenv.WaitToken(raw.Publish(retained, 1, true, "kept")))
		defer raw.Publish(retained, 1, true, "") // AWS keeps retained messages: delete it
		wild, exact := make(chan client.Message, 10), make(chan client.Message, 10)
		_, err = c.Subscribe(ctx, e.topic("+"), client.QoS1, func(m client.Message) { wild <- m })
		require.NoError(t, err)
		// On another client: a client hands each message to every matching
		// handler, so the exact filter's delivery would reach "+" too.
		_, err = e.connect(e.config("exact")).Subscribe(ctx, retained, client.QoS1, func(m client.Message) { exact <- m })
		require.NoError(t, err)
		m := testenv.Receive(t, ctx, exact, "the retained message on the exact filter")
		require.Equal(t, "kept", string(m.Payload))
		require.True(t, m.Retain)
		// A live message on the wildcard comes after anything it was given
		// on subscribe: nothing before it may be a retained one. (The
		// retained message's own live delivery may reach "+" too: its
		// PUBACK comes before its fan-out, so "+" can be subscribed by
		// then; that copy is not marked retained.)
		marker := e.topic("marker")
		_, err = c.Publish(ctx, marker, []byte("live"), client.QoS1)
		require.NoError(t, err)
		for {
			m := testenv.Receive(t, ctx, wild, "the live message on the wildcard")
			require.False(t, m.Retain, "a retained message on the wildcard filter: %s", m.Topic)
			if m.Topic == marker {
				break
			}
		}
	})
}

// The lifecycle events of a device that connects and disconnects, with
// AWS's fields.
func TestAWSLifecycleEvents(t *testing.T) {
	t.Parallel()
	awsScenario(t, func(t *testing.T, e *env) {
		ctx := testenv.Context(t)
		id := e.clientID("presence")
		events := make(chan client.Message, 10)
		watcher := e.connect(e.config("presence-watcher"))
		_, err := watcher.Subscribe(ctx, "$aws/events/presence/+/"+id, client.QoS1, func(m client.Message) { events <- m })
		require.NoError(t, err)

		device, err := client.New(e.config("presence"))
		require.NoError(t, err)
		require.NoError(t, device.Connect(ctx))
		connected := presenceEvent(t, testenv.Receive(t, ctx, events, "the connected event"))
		require.NoError(t, device.Disconnect(ctx))
		disconnected := presenceEvent(t, testenv.Receive(t, ctx, events, "the disconnected event"))

		require.Equal(t, id, connected["clientId"])
		require.Equal(t, "connected", connected["eventType"])
		for _, field := range []string{"timestamp", "sessionIdentifier", "principalIdentifier", "versionNumber", "ipAddress"} {
			require.Contains(t, connected, field)
		}
		require.Equal(t, "disconnected", disconnected["eventType"])
		require.Equal(t, true, disconnected["clientInitiatedDisconnect"])
		require.Equal(t, broker.ReasonClientInitiated, disconnected["disconnectReason"])
		require.Equal(t, connected["sessionIdentifier"], disconnected["sessionIdentifier"])
	})
}

func presenceEvent(t *testing.T, m client.Message) map[string]any {
	t.Helper()
	var ev map[string]any
	require.NoError(t, json.Unmarshal(m.Payload, &ev), "%s", m.Payload)
	return ev
}

// A second connection with the same client id takes over: the first is
// closed (DUPLICATE_CLIENTID).
func TestAWSDuplicateClientIDTakesOver(t *testing.T) {
	t.Parallel()
	awsScenario(t, func(t *testing.T, e *env) {
		id := e.clientID("twin")
		first := e.Raw(t, id)
		time.Sleep(time.Second) // AWS admits one CONNECT per second per client id
		second := e.Raw(t, id)
		testenv.Receive(t, testenv.Context(t), first.Lost, "the first connection closed")
		require.True(t, second.IsConnectionOpen())
		if e.Broker != nil {
			ev, err := e.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDisconnect, ClientID: id})
			require.NoError(t, err)
			require.Equal(t, broker.ReasonDuplicateID, ev.Reason)
		}
	})
}

// AWS admits one CONNECT per second per client id. A device cut right
// after it connected retries on its back-off (here 100 ms doubling to
// 800 ms); the attempts within the second are refused without CONNACK,
// the client keeps backing off, and the first attempt past the second is
// admitted and drains the queue. In virtual time the schedule is exact.
func TestAWSConnectThrottleMeetsClientBackoff(t *testing.T) {
	t.Parallel()
	awsScenario(t, func(t *testing.T, e *env) {
		ctx := testenv.Context(t)
		cfg := e.config("throttled")
		topic := e.topic("after-throttle")
		arrivals := e.observe(topic)
		c := e.connect(cfg)
		mark := e.Events.Seq()
		e.Proxy.CutLinks(broker.FIN)
		cut := time.Now()
		testenv.WaitStatus(t, c, client.StatusConnecting)
		_, err := c.PublishAsync(topic, []byte("0"), client.QoS1, nil)
		require.NoError(t, err)
		testenv.WaitStatus(t, c, client.StatusStable)
		got, err := arrivals.waitN(ctx, 1)
		require.NoError(t, err)
		require.Equal(t, []string{"0"}, payloadsOf(got))
		if !e.virtual {
			return // on AWS the throttle's window is AWS's to choose (★)
		}
		id := cfg.ClientID
		attempts := sinceCut(cut, e.Events.Events(broker.Match{Kind: broker.KindConnect, ClientID: id, After: mark}))
		throttled := sinceCut(cut, e.Events.Events(broker.Match{Kind: broker.KindDisconnect, ClientID: id, After: mark,
			Where: func(ev broker.Event) bool { return ev.Reason == broker.ReasonThrottled }}))
		admitted := sinceCut(cut, e.Events.Events(broker.Match{Kind: broker.KindConnack, ClientID: id, After: mark}))
		ms := time.Millisecond
		require.Equal(t, []time.Duration{100 * ms, 300 * ms, 700 * ms, 1500 * ms}, attempts)
		require.Equal(t, []time.Duration{100 * ms, 300 * ms, 700 * ms}, throttled)
		require.Equal(t, []time.Duration{1500 * ms}, admitted)
	})
}

func sinceCut(cut time.Time, evs []broker.Event) []time.Duration {
	out := make([]time.Duration, len(evs))
	for i, ev := range evs {
		out[i] = ev.At.Sub(cut)
	}
	return out
}

// A shared subscription whose members are all offline (one with a
// persistent session) queues its QoS 1 messages; the member that comes
// back gets them, at 20 a second: in virtual time exactly 50, 100 and
// 150 ms after its CONNACK. (The endpoint's policy must allow the
// subscription $share/<group>/-topicPrefix/….)
func TestAWSSharedSubscriptionQueuesForOfflineMembers(t *testing.T) {
	t.Parallel()
	awsScenario(t, func(t *testing.T, e *env) {
		ctx := testenv.Context(t)
		id := e.clientID("shared-member")
		topic := e.topic("shared")
		filter := "$share/" + e.run + "/" + topic
		persistent := func(o *paho.ClientOptions) { o.SetCleanSession(false) }
		member := e.Raw(t, id, persistent)
		require.NoError(t, testenv.WaitToken(member.Subscribe(filter, 1, nil)))
		member.Disconnect(250)

		pub := e.Raw(t, e.clientID("shared-pub"))
		for _, p := range []string{"s0", "s1", "s2"} {
			require.NoError(t, testenv.WaitToken(pub.Publish(topic, 1, false, p)))
		}
		time.Sleep(time.Second) // AWS admits one CONNECT per second per client id
		mark := e.Events.Seq()
		got := make(chan string, 10)
		back := e.Raw(t, id, persistent, func(o *paho.ClientOptions) {
			o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
		})
		defer back.Unsubscribe(filter)
		var payloads []string
		for range 3 {
			payloads = append(payloads, testenv.Receive(t, ctx, got, "a queued message"))
		}
		require.ElementsMatch(t, []string{"s0", "s1", "s2"}, payloads)
		if !e.virtual {
			return
		}
		connack, err := e.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnack, ClientID: id, After: mark})
		require.NoError(t, err)
		deliveries := e.Events.Events(broker.Match{Kind: broker.KindDeliver, ClientID: id, After: mark})
		require.Len(t, deliveries, 3)
		for i, d := range deliveries {
			require.Equal(t, time.Duration(i+1)*50*time.Millisecond, d.At.Sub(connack.At), "queued message %d", i)
		}
	})
}
