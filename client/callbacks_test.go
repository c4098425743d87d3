package client_test

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// A slow callback does not delay acknowledgements: the client acks every
// delivery while the callback is still blocked.
func TestSlowCallbackDoesNotDelayAcks(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	c := testenv.Connect(t, deviceConfig(b, "slowpoke"))
	_, err := c.Subscribe(ctx, "slow", client.QoS1, func(client.Message) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	require.NoError(t, err)

	for range 3 {
		require.NoError(t, b.Publish(ctx, "slow", []byte("x"), 1, false))
	}
	testenv.Receive(t, ctx, entered, "the first callback")
	_, err = b.Events.WaitForN(ctx, 3, broker.Match{Kind: broker.KindDeliveryAck, ClientID: "slowpoke"})
	require.NoError(t, err, "all three acknowledged while the first callback blocks")
	out, err := c.Publish(ctx, "other", []byte("y"), client.QoS1)
	require.NoError(t, err, "the client's own requests are not held up either")
	require.Equal(t, client.Sent, out)
	close(release)
	testenv.Receive(t, ctx, entered, "the second callback")
	testenv.Receive(t, ctx, entered, "the third callback")
}

func TestPanickingCallbackIsRecoveredAndLogged(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	var logs testenv.Buffer
	cfg := deviceConfig(b, "panicky")
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	got := make(chan string, 2)
	cfg.OnMessage = func(m client.Message) { got <- string(m.Payload) }
	c := testenv.Connect(t, cfg)
	_, err := c.Subscribe(ctx, "p", client.QoS1, func(m client.Message) {
		if string(m.Payload) == "boom" {
			panic("callback exploded")
		}
	})
	require.NoError(t, err)
	require.NoError(t, b.Publish(ctx, "p", []byte("boom"), 1, false))
	require.NoError(t, b.Publish(ctx, "p", []byte("fine"), 1, false))
	require.Equal(t, "boom", <-got, "OnMessage still sees the message whose callback panicked")
	require.Equal(t, "fine", <-got, "and the next one")
	require.Contains(t, logs.String(), "callback panicked")
	require.Contains(t, logs.String(), "callback exploded")
	out, err := c.Publish(ctx, "p2", nil, client.QoS1)
	require.NoError(t, err)
	require.Equal(t, client.Sent, out)
}

// Sync calls made inside a callback complete (in the Python SDK they always
// time out).
func TestSyncCallsInsideACallbackComplete(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	c := testenv.Connect(t, deviceConfig(b, "reentrant"))
	results := make(chan string, 3)
	_, err := c.Subscribe(ctx, "req", client.QoS1, func(m client.Message) {
		out, err := c.Publish(ctx, "resp", m.Payload, client.QoS1)
		results <- out.String() + " " + errString(err)
		out, err = c.Subscribe(ctx, "more", client.QoS1, nil)
		results <- out.String() + " " + errString(err)
		out, err = c.Unsubscribe(ctx, "more")
		results <- out.String() + " " + errString(err)
	})
	require.NoError(t, err)
	require.NoError(t, b.Publish(ctx, "req", []byte("ping"), 1, false))
	for range 3 {
		select {
		case r := <-results:
			require.Equal(t, "sent <nil>", r)
		case <-ctx.Done():
			t.Fatal("a sync call inside a callback did not complete")
		}
	}
	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "resp"})
	require.NoError(t, err)
	require.Equal(t, "ping", string(ev.Payload))
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// Messages carry topic, payload, QoS, retain and dup; overlapping filters
// each get the message, in subscription order, then OnMessage.
func TestMessageFieldsAndRouting(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	var mu sync.Mutex
	var order []string
	record := func(who string) client.MessageHandler {
		return func(client.Message) { mu.Lock(); order = append(order, who); mu.Unlock() }
	}
	got := make(chan client.Message, 10)
	cfg := deviceConfig(b, "router")
	cfg.OnMessage = func(m client.Message) { record("onMessage")(m); got <- m }
	c := testenv.Connect(t, cfg)

	require.NoError(t, b.Publish(ctx, "a/b", []byte("kept"), 1, true))
	_, err := c.Subscribe(ctx, "a/#", client.QoS1, record("a/#"))
	require.NoError(t, err)
	_, err = c.Subscribe(ctx, "a/b", client.QoS1, record("a/b"))
	require.NoError(t, err)
	// AWS IoT Core sends the retained message to the exact filter only.
	m := testenv.Receive(t, ctx, got, "the retained message")
	require.Equal(t, client.Message{Topic: "a/b", Payload: []byte("kept"), QoS: client.QoS1, Retain: true, MessageID: m.MessageID}, m)
	require.NotZero(t, m.MessageID)
	mu.Lock()
	order = nil
	mu.Unlock()
	require.NoError(t, b.Publish(ctx, "a/b", []byte("live"), 0, false))
	m = testenv.Receive(t, ctx, got, "the live message")
	require.Equal(t, client.QoS0, m.QoS)
	require.False(t, m.Retain)
	mu.Lock()
	require.Equal(t, []string{"a/#", "a/b", "onMessage"}, order)
	mu.Unlock()
}

// With a persistent session the broker redelivers what the client missed,
// flagged as duplicate.
func TestPersistentSessionRedeliveryIsFlaggedDuplicate(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	cfg := deviceConfig(b, "persistent")
	cfg.PersistentSession = true
	got := make(chan client.Message, 10)
	c := testenv.Connect(t, cfg)
	_, err := c.Subscribe(ctx, "p", client.QoS1, func(m client.Message) { got <- m })
	require.NoError(t, err)
	// Let the broker start a delivery the client never acknowledges.
	b.SetFault(broker.Blackhole, true)
	require.NoError(t, b.Publish(ctx, "p", []byte("in flight"), 1, false))
	b.CutLinks(broker.FIN)
	b.SetFault(broker.Blackhole, false)
	select {
	case m := <-got:
		require.Equal(t, "in flight", string(m.Payload))
		require.True(t, m.Duplicate)
	case <-ctx.Done():
		t.Fatal("not redelivered")
	}
	ack, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnack, ClientID: "persistent", Where: func(e broker.Event) bool { return e.SessionPresent }})
	require.NoError(t, err)
	require.True(t, ack.SessionPresent)
}

func TestSharedSubscriptionDelivers(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	c := testenv.Connect(t, deviceConfig(b, "sharer"))
	got := make(chan string, 1)
	out, err := c.Subscribe(ctx, "$share/workers/jobs/#", client.QoS1, func(m client.Message) { got <- m.Topic })
	require.NoError(t, err)
	require.Equal(t, client.Sent, out)
	require.NoError(t, b.Publish(ctx, "jobs/1", []byte("job"), 1, false))
	select {
	case topic := <-got:
		require.Equal(t, "jobs/1", topic)
	case <-ctx.Done():
		t.Fatal("the shared subscription's callback was not called")
	}
}

// A panicking subscription callback does not hide the message from the
// other matching callbacks or from OnMessage.
func TestAPanickingCallbackDoesNotHideTheMessageFromOthers(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	got := make(chan string, 4)
	cfg := deviceConfig(b, "isolated")
	cfg.OnMessage = func(m client.Message) { got <- "onMessage" }
	c := testenv.Connect(t, cfg)
	_, err := c.Subscribe(ctx, "iso/#", client.QoS1, func(client.Message) { panic("first callback exploded") })
	require.NoError(t, err)
	_, err = c.Subscribe(ctx, "iso/x", client.QoS1, func(client.Message) { got <- "second" })
	require.NoError(t, err)
	require.NoError(t, b.Publish(ctx, "iso/x", []byte("m"), 1, false))
	var order []string
	for range 2 {
		select {
		case who := <-got:
			order = append(order, who)
		case <-time.After(2 * time.Second):
			t.Fatalf("after the panic only %v saw the message", order)
		}
	}
	require.Equal(t, []string{"second", "onMessage"}, order)
}
