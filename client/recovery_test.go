package client_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// goOffline cuts the client's link while the broker refuses connections,
// and waits until the client knows it is offline.
func goOffline(t *testing.T, b *broker.Broker, c *client.Client) {
	t.Helper()
	b.SetFault(broker.Refuse, true)
	b.CutLinks(broker.FIN)
	testenv.WaitStatus(t, c, client.StatusConnecting)
}

func payloads(evs []broker.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = string(e.Payload)
	}
	return out
}

func TestOfflineRequestsAreQueuedWithTheirOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		size   int
		drop   client.DropBehavior
		want   []string // outcome or error of 4 offline publishes
		wantTx []string // payloads the broker receives after reconnect
	}{
		{"infinite", client.QueueInfinite, client.DropNewest, []string{"queued", "queued", "queued", "queued"}, []string{"0", "1", "2", "3"}},
		{"size 2 drop newest", 2, client.DropNewest, []string{"queued", "queued", "client: offline queue full", "client: offline queue full"}, []string{"0", "1"}},
		{"size 2 drop oldest", 2, client.DropOldest, []string{"queued", "queued", "queued (dropped oldest)", "queued (dropped oldest)"}, []string{"2", "3"}},
		{"disabled", client.QueueDisabled, client.DropNewest, []string{"client: offline, and offline queueing is disabled", "client: offline, and offline queueing is disabled", "client: offline, and offline queueing is disabled", "client: offline, and offline queueing is disabled"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBroker(t)
			ctx := testenv.Context(t)
			topic := "q/" + strings.ReplaceAll(tt.name, " ", "-")
			cfg := deviceConfig(b, "queuer")
			cfg.ConfigureOfflinePublishQueueing(tt.size, tt.drop)
			c := testenv.Connect(t, cfg)
			goOffline(t, b, c)

			acks := make(chan string, 4)
			var got []string
			for i := range 4 {
				out, err := c.PublishAsync(topic, []byte(fmt.Sprint(i)), client.QoS1, func(err error) { acks <- fmt.Sprint(i, ":", err) })
				if err != nil {
					got = append(got, err.Error())
				} else {
					got = append(got, out.String())
				}
			}
			require.Equal(t, tt.want, got)
			require.Equal(t, len(tt.wantTx), c.QueuedRequests())

			mark := b.Events.Seq()
			require.NoError(t, b.SetFault(broker.Refuse, false))
			if len(tt.wantTx) > 0 {
				evs, err := b.Events.WaitForN(ctx, len(tt.wantTx), broker.Match{Kind: broker.KindPublish, Topic: topic, After: mark})
				require.NoError(t, err)
				require.Equal(t, tt.wantTx, payloads(evs), "in order, none lost")
			}
			testenv.WaitStatus(t, c, client.StatusStable)
			// Every accepted request's ack callback reports its fate.
			var ackResults []string
			for range tt.wantTx {
				ackResults = append(ackResults, <-acks)
			}
			if tt.drop == client.DropOldest && tt.size == 2 {
				ackResults = append(ackResults, <-acks, <-acks)
				require.ElementsMatch(t, []string{"0:" + client.ErrDropped.Error(), "1:" + client.ErrDropped.Error(), "2:<nil>", "3:<nil>"}, ackResults)
			}
			require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindPublish, Topic: topic, After: mark})-len(tt.wantTx), "nothing extra")
		})
	}
}

func TestInvalidRequestsAreRefusedBeforeQueueing(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	c := testenv.Connect(t, deviceConfig(b, "strict"))
	goOffline(t, b, c)

	_, err := c.Publish(ctx, "", []byte("x"), client.QoS0)
	require.ErrorIs(t, err, client.ErrInvalidTopic)
	require.ErrorContains(t, err, "must not be empty")
	_, err = c.Publish(ctx, "a/#", []byte("x"), client.QoS0)
	require.ErrorIs(t, err, client.ErrInvalidTopic)
	require.ErrorContains(t, err, "wildcards")
	_, err = c.PublishAsync("a/+/b", []byte("x"), client.QoS0, nil)
	require.ErrorIs(t, err, client.ErrInvalidTopic)
	_, err = c.Publish(ctx, "a", []byte("x"), 2)
	require.ErrorIs(t, err, client.ErrInvalidQoS)
	require.ErrorContains(t, err, "AWS IoT Core supports QoS 0 and 1 only")
	_, err = c.Publish(ctx, "a", make([]byte, client.DefaultMaxPayloadSize+1), client.QoS1)
	require.ErrorIs(t, err, client.ErrPayloadTooLarge)
	require.ErrorContains(t, err, "131073 bytes, limit 131072")
	_, err = c.Subscribe(ctx, "a/#/b", client.QoS1, nil)
	require.ErrorIs(t, err, client.ErrInvalidTopic)
	_, err = c.SubscribeAsync("a", 2, nil, nil)
	require.ErrorIs(t, err, client.ErrInvalidQoS)
	_, err = c.Unsubscribe(ctx, "")
	require.ErrorIs(t, err, client.ErrInvalidTopic)
	require.Zero(t, c.QueuedRequests(), "nothing invalid was queued")

	out, err := c.Publish(ctx, "a", make([]byte, client.DefaultMaxPayloadSize), client.QoS1)
	require.NoError(t, err)
	require.Equal(t, client.Queued, out)
	require.NoError(t, b.SetFault(broker.Refuse, false))
	_, err = b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "a"})
	require.NoError(t, err, "the valid request still goes out")
}

// After a reconnect the client renews its subscriptions (waiting for the
// SUBACK) before it drains the queue, one request per tick, first at once.
func TestReconnectResubscribesThenDrains(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		ctx := testenv.Context(t)
		cfg := deviceConfig(b, "drainer")
		cfg.ConfigureDrainingFrequency(20) // 50 ms
		got := make(chan client.Message, 10)
		c := testenv.Connect(t, cfg)
		for _, f := range []string{"cmd/#", "cfg/+"} {
			_, err := c.Subscribe(ctx, f, client.QoS1, func(m client.Message) { got <- m })
			require.NoError(t, err)
		}
		goOffline(t, b, c)
		for i := range 5 {
			out, err := c.Publish(ctx, "up", []byte(fmt.Sprint(i)), client.QoS1)
			require.NoError(t, err)
			require.Equal(t, client.Queued, out, "the sync call returns at once when offline")
		}

		mark := b.Events.Seq()
		require.NoError(t, b.SetFault(broker.Refuse, false))
		pubs, err := b.Events.WaitForN(ctx, 5, broker.Match{Kind: broker.KindPublish, Topic: "up", After: mark})
		require.NoError(t, err)
		require.Equal(t, []string{"0", "1", "2", "3", "4"}, payloads(pubs))

		sub, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindSubscribe, ClientID: "drainer", After: mark})
		require.NoError(t, err)
		require.ElementsMatch(t, []broker.TopicFilter{{Filter: "cmd/#", QoS: 1}, {Filter: "cfg/+", QoS: 1}}, sub.Filters)
		suback, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindSuback, ClientID: "drainer", After: mark})
		require.NoError(t, err)
		require.Less(t, suback.Seq, pubs[0].Seq, "the drain starts after the SUBACK")
		require.Equal(t, time.Duration(0), pubs[0].At.Sub(suback.At), "the first drained request goes out at once")
		for i := 1; i < len(pubs); i++ {
			require.Equal(t, 50*time.Millisecond, pubs[i].At.Sub(pubs[i-1].At), "gap %d: exactly 1/20 Hz", i)
		}

		// The renewed subscriptions deliver.
		require.NoError(t, b.Publish(ctx, "cmd/reboot", []byte("now"), 1, false))
		select {
		case m := <-got:
			require.Equal(t, "cmd/reboot", m.Topic)
		case <-ctx.Done():
			t.Fatal("renewed subscription did not deliver")
		}
	})
}

func TestRequestsDuringTheDrainJoinTheTail(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		ctx := testenv.Context(t)
		cfg := deviceConfig(b, "tail")
		cfg.ConfigureDrainingFrequency(10)
		c := testenv.Connect(t, cfg)
		goOffline(t, b, c)
		for i := range 3 {
			_, err := c.PublishAsync("t", []byte(fmt.Sprint(i)), client.QoS1, nil)
			require.NoError(t, err)
		}
		mark := b.Events.Seq()
		require.NoError(t, b.SetFault(broker.Refuse, false))
		_, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "t", After: mark})
		require.NoError(t, err)
		require.Equal(t, client.StatusRecovering, c.Status())
		for i := 3; i < 5; i++ {
			out, err := c.Publish(ctx, "t", []byte(fmt.Sprint(i)), client.QoS1)
			require.NoError(t, err)
			require.Equal(t, client.Queued, out, "behind the drain")
		}
		pubs, err := b.Events.WaitForN(ctx, 5, broker.Match{Kind: broker.KindPublish, Topic: "t", After: mark})
		require.NoError(t, err)
		require.Equal(t, []string{"0", "1", "2", "3", "4"}, payloads(pubs))
		testenv.WaitStatus(t, c, client.StatusStable)
		out, err := c.Publish(ctx, "t", []byte("direct"), client.QoS1)
		require.NoError(t, err)
		require.Equal(t, client.Sent, out)
	})
}

// A link drop in the middle of a drain loses nothing: the drain pauses, the
// next connection renews the subscriptions again and resumes.
func TestLinkDropMidDrainLosesNothing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		ctx := testenv.Context(t)
		cfg := deviceConfig(b, "resilient")
		cfg.ConfigureDrainingFrequency(20)
		got := make(chan client.Message, 10)
		c := testenv.Connect(t, cfg)
		_, err := c.Subscribe(ctx, "cmd", client.QoS1, func(m client.Message) { got <- m })
		require.NoError(t, err)
		goOffline(t, b, c)
		for i := range 10 {
			_, err := c.PublishAsync("d", []byte(fmt.Sprint(i)), client.QoS1, nil)
			require.NoError(t, err)
		}
		mark := b.Events.Seq()
		require.NoError(t, b.SetFault(broker.Refuse, false))
		_, err = b.Events.WaitForN(ctx, 3, broker.Match{Kind: broker.KindPublish, Topic: "d", After: mark})
		require.NoError(t, err)
		b.CutLinks(broker.RST) // mid-drain

		subs, err := b.Events.WaitForN(ctx, 2, broker.Match{Kind: broker.KindSubscribe, ClientID: "resilient", After: mark})
		require.NoError(t, err, "subscriptions renewed on each reconnect")
		require.Equal(t, "cmd", subs[1].Filters[0].Filter)
		testenv.WaitStatus(t, c, client.StatusStable)
		// Stable means the queue is empty, not that the broker has read the
		// last PUBLISH: wait for it on the wire.
		_, err = b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "d", After: mark,
			Where: func(e broker.Event) bool { return string(e.Payload) == "9" }})
		require.NoError(t, err)

		seen := map[string]bool{}
		var firstSeen []string
		for _, e := range b.Events.Events(broker.Match{Kind: broker.KindPublish, Topic: "d", After: mark}) {
			if !seen[string(e.Payload)] {
				seen[string(e.Payload)] = true
				firstSeen = append(firstSeen, string(e.Payload))
			}
		}
		require.Equal(t, []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}, firstSeen, "all ten, first arrivals in order")
		require.NoError(t, b.Publish(ctx, "cmd", []byte("still listening"), 1, false))
		select {
		case m := <-got:
			require.Equal(t, "still listening", string(m.Payload))
		case <-ctx.Done():
			t.Fatal("subscription lost after the mid-drain cut")
		}
	})
}

func TestOfflineSubscribeAndUnsubscribeTakeEffectAfterReconnect(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	got := make(chan string, 10)
	cfg := deviceConfig(b, "subscriber")
	cfg.OnMessage = func(m client.Message) { got <- m.Topic }
	c := testenv.Connect(t, cfg)
	_, err := c.Subscribe(ctx, "A", client.QoS1, nil)
	require.NoError(t, err)
	goOffline(t, b, c)
	out, err := c.Subscribe(ctx, "B", client.QoS1, nil)
	require.NoError(t, err)
	require.Equal(t, client.Queued, out)
	out, err = c.Unsubscribe(ctx, "A")
	require.NoError(t, err)
	require.Equal(t, client.Queued, out)
	mark := b.Events.Seq()
	require.NoError(t, b.SetFault(broker.Refuse, false))
	_, err = b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindUnsuback, ClientID: "subscriber", After: mark})
	require.NoError(t, err)
	testenv.WaitStatus(t, c, client.StatusStable)

	require.NoError(t, b.Publish(ctx, "A", []byte("a"), 1, false))
	require.NoError(t, b.Publish(ctx, "B", []byte("b"), 1, false))
	select {
	case topic := <-got:
		require.Equal(t, "B", topic, "A was unsubscribed, B subscribed")
	case <-ctx.Done():
		t.Fatal("nothing delivered")
	}
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDeliver, Topic: "A", ClientID: "subscriber"}))
}

func TestOperationTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		cfg := deviceConfig(b, "impatient")
		cfg.ConfigureMQTTOperationTimeout(200 * time.Millisecond)
		c := testenv.Connect(t, cfg)
		b.SetFault(broker.WithholdPuback, true)
		start := time.Now()
		_, err := c.Publish(context.Background(), "t", []byte("x"), client.QoS1)
		require.ErrorIs(t, err, client.ErrTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, 200*time.Millisecond, time.Since(start), "exactly the operation timeout")

		// An earlier context deadline wins.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		start = time.Now()
		_, err = c.Publish(ctx, "t", []byte("y"), client.QoS1)
		require.ErrorIs(t, err, client.ErrTimeout)
		require.Equal(t, 20*time.Millisecond, time.Since(start), "exactly the context's deadline")
		b.SetFault(broker.WithholdPuback, false)
	})
}

func TestRefusedSubscriptionIsReportedAndNotRenewed(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	b.SetFault(broker.RefuseSubscription("secret/#"), true)
	c := testenv.Connect(t, deviceConfig(b, "nosy"))
	_, err := c.Subscribe(ctx, "secret/#", client.QoS1, nil)
	var se *client.SubscribeError
	require.ErrorAs(t, err, &se)
	require.Equal(t, "secret/#", se.Filter)
	require.Equal(t, byte(0x80), se.ReturnCode)
	require.ErrorIs(t, err, client.ErrSubscriptionRefused)

	acked := make(chan error, 1)
	_, err = c.SubscribeAsync("secret/#", client.QoS1, func(err error) { acked <- err }, nil)
	require.NoError(t, err)
	require.ErrorIs(t, <-acked, client.ErrSubscriptionRefused)
	_, err = c.Subscribe(ctx, "public", client.QoS1, nil)
	require.NoError(t, err)

	mark := b.Events.Seq()
	b.CutLinks(broker.FIN)
	sub, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindSubscribe, ClientID: "nosy", After: mark})
	require.NoError(t, err)
	require.Equal(t, []broker.TopicFilter{{Filter: "public", QoS: 1}}, sub.Filters, "the refused filter is not renewed")
}

func TestKeepaliveDetectsABlackhole(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		cfg := deviceConfig(b, "pinger")
		cfg.KeepAlive = time.Second
		cfg.PingTimeout = 500 * time.Millisecond
		lc := watchLifecycle(&cfg)
		c := testenv.Connect(t, cfg)
		lc.waitOnline(t)
		b.SetFault(broker.Blackhole, true)
		cause := lc.waitOffline(t)
		require.ErrorContains(t, cause, "pingresp not received")
		b.SetFault(broker.Blackhole, false)
		lc.waitOnline(t)
		testenv.WaitStatus(t, c, client.StatusStable)
	})
}

func TestAsyncCallsAckAfterTheDrain(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	c := testenv.Connect(t, deviceConfig(b, "async"))
	acks := make(chan string, 10)
	ack := func(name string) func(error) { return func(err error) { acks <- fmt.Sprint(name, ":", err) } }

	out, err := c.SubscribeAsync("s", client.QoS1, ack("sub"), nil)
	require.NoError(t, err)
	require.Equal(t, client.InFlight, out)
	out, err = c.PublishAsync("s", []byte("x"), client.QoS1, ack("pub"))
	require.NoError(t, err)
	require.Equal(t, client.InFlight, out)
	out, err = c.UnsubscribeAsync("s", ack("unsub"))
	require.NoError(t, err)
	require.Equal(t, client.InFlight, out)
	require.Equal(t, []string{"sub:<nil>", "pub:<nil>", "unsub:<nil>"}, []string{<-acks, <-acks, <-acks})

	goOffline(t, b, c)
	out, err = c.PublishAsync("late", []byte("y"), client.QoS1, ack("late"))
	require.NoError(t, err)
	require.Equal(t, client.Queued, out)
	require.NoError(t, b.SetFault(broker.Refuse, false))
	select {
	case a := <-acks:
		require.Equal(t, "late:<nil>", a, "a queued request's callback fires once it is acknowledged")
	case <-ctx.Done():
		t.Fatal("no ack for the queued publish")
	}
}

func TestFlushWaitsForEverythingAccepted(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	c := testenv.Connect(t, deviceConfig(b, "flusher"))
	require.NoError(t, c.Flush(ctx), "nothing pending")

	goOffline(t, b, c)
	for i := range 5 {
		_, err := c.PublishAsync("f", []byte(fmt.Sprint(i)), client.QoS1, nil)
		require.NoError(t, err)
	}
	require.NoError(t, b.SetFault(broker.Refuse, false))
	require.NoError(t, c.Flush(ctx))
	require.Zero(t, c.QueuedRequests())
	require.Equal(t, 5, b.Events.Count(broker.Match{Kind: broker.KindPuback, ClientID: "flusher"}), "all acknowledged when Flush returns")

	b.SetFault(broker.WithholdPuback, true)
	_, err := c.PublishAsync("f", []byte("stuck"), client.QoS1, nil)
	require.NoError(t, err)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Flush(short), client.ErrTimeout)
	b.SetFault(broker.WithholdPuback, false)

	// Offline and idle: what waits cannot be flushed until the next Connect.
	require.NoError(t, c.Disconnect(ctx))
	require.ErrorIs(t, c.Flush(ctx), client.ErrNotConnected)
}

func TestFlushIsWokenWhenTheClientStops(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	c := testenv.Connect(t, deviceConfig(b, "stopper"))
	goOffline(t, b, c)
	_, err := c.PublishAsync("f", []byte("waits"), client.QoS1, nil)
	require.NoError(t, err)
	flushed := make(chan error, 1)
	go func() { flushed <- c.Flush(ctx) }()
	require.NoError(t, c.Disconnect(ctx))
	select {
	case err := <-flushed:
		require.ErrorIs(t, err, client.ErrNotConnected)
		require.ErrorContains(t, err, "1 request(s) wait for the next Connect")
	case <-ctx.Done():
		t.Fatal("Flush still waits after Disconnect")
	}
	require.NoError(t, b.SetFault(broker.Refuse, false))
}
