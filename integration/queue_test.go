package integration_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// Requests made while the link is down are queued with the configured size
// and drop behaviour, and arrive after the reconnect in order, none lost,
// none extra.
func TestOfflineQueueingOnTheWire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		size int
		drop client.DropBehavior
		want []string // of 10 offline publishes, which arrive
	}{
		{"infinite", client.QueueInfinite, client.DropNewest, seq(0, 10)},
		{"size 3 drop newest", 3, client.DropNewest, seq(0, 3)},
		{"size 3 drop oldest", 3, client.DropOldest, seq(7, 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scenario(t, func(t *testing.T, e *env) {
				ctx := testenv.Context(t)
				topic := e.topic("queue")
				seen := e.observe(topic)
				cfg := e.config("queue")
				cfg.ConfigureOfflinePublishQueueing(tt.size, tt.drop)
				cfg.ConfigureDrainingFrequency(50)
				c := e.connect(cfg)
				e.goOffline(c)
				for i := range 10 {
					_, _ = c.Publish(ctx, topic, []byte(strconv.Itoa(i)), client.QoS1)
				}
				require.Equal(t, len(tt.want), c.QueuedRequests())
				e.Proxy.SetFault(broker.HangUp, false)
				got, err := seen.waitN(ctx, len(tt.want))
				require.NoError(t, err)
				require.Equal(t, tt.want, payloadsOf(got), "in order, none lost")
				testenv.WaitStatus(t, c, client.StatusStable)
				// One more publish marks the end of the stream: nothing extra
				// came before it.
				_, err = c.Publish(ctx, topic, []byte("end"), client.QoS1)
				require.NoError(t, err)
				got, err = seen.waitN(ctx, len(tt.want)+1)
				require.NoError(t, err)
				require.Equal(t, append(tt.want, "end"), payloadsOf(got), "none extra")
			})
		})
	}
}

// Subscribe and unsubscribe made offline take effect after the reconnect
// (the Python SDK's OfflineQueueingForSubscribeUnsubscribe).
func TestOfflineSubscribeUnsubscribe(t *testing.T) { scenario(t, offlineSubscribeUnsubscribe) }

func offlineSubscribeUnsubscribe(t *testing.T, e *env) {
	ctx := testenv.Context(t)
	topicA, topicB := e.topic("A"), e.topic("B")
	gotA, gotB := make(chan string, 10), make(chan string, 10)
	c := e.connect(e.config("subunsub"))
	_, err := c.Subscribe(ctx, topicA, client.QoS1, func(m client.Message) { gotA <- string(m.Payload) })
	require.NoError(t, err)
	e.goOffline(c)
	out, err := c.Subscribe(ctx, topicB, client.QoS1, func(m client.Message) { gotB <- string(m.Payload) })
	require.NoError(t, err)
	require.Equal(t, client.Queued, out)
	out, err = c.Unsubscribe(ctx, topicA)
	require.NoError(t, err)
	require.Equal(t, client.Queued, out)
	e.Proxy.SetFault(broker.HangUp, false)
	testenv.WaitStatus(t, c, client.StatusStable)

	for i := range 3 {
		_, err := c.Publish(ctx, topicA, []byte(fmt.Sprint("a", i)), client.QoS1)
		require.NoError(t, err)
		_, err = c.Publish(ctx, topicB, []byte(fmt.Sprint("b", i)), client.QoS1)
		require.NoError(t, err)
	}
	for i := range 3 {
		select {
		case p := <-gotB:
			require.Equal(t, fmt.Sprint("b", i), p)
		case <-ctx.Done():
			t.Fatal("B, subscribed offline, did not deliver")
		}
	}
	// The marker publish to B went after the three to A: had A still been
	// subscribed, its messages would have arrived before this one.
	_, err = c.Publish(ctx, topicB, []byte("marker"), client.QoS1)
	require.NoError(t, err)
	require.Equal(t, "marker", <-gotB)
	require.Empty(t, gotA, "A, unsubscribed offline, delivered nothing")
}

// After a reconnect the queued requests arrive one per 1/Hz, after the
// renewed subscriptions, and publishes made during the drain queue behind it.
func TestDrainPacing(t *testing.T) {
	t.Parallel()
	for _, hz := range []float64{20, 100} {
		t.Run(fmt.Sprintf("%vHz", hz), func(t *testing.T) {
			scenario(t, func(t *testing.T, e *env) {
				ctx := testenv.Context(t)
				interval := time.Duration(float64(time.Second) / hz)
				const queued, during = 30, 5
				topic := e.topic("drain")
				seen := e.observe(topic)
				cfg := e.config("drain")
				cfg.ConfigureDrainingFrequency(hz)
				c := e.connect(cfg)
				_, err := c.Subscribe(ctx, e.topic("cmd"), client.QoS1, nil)
				require.NoError(t, err)
				e.goOffline(c)
				for i := range queued {
					_, err := c.PublishAsync(topic, []byte(strconv.Itoa(i)), client.QoS1, nil)
					require.NoError(t, err)
				}
				mark := e.Events.Seq()
				e.Proxy.SetFault(broker.HangUp, false)
				first, err := seen.waitN(ctx, 1)
				require.NoError(t, err)
				for i := queued; i < queued+during; i++ {
					out, err := c.Publish(ctx, topic, []byte(strconv.Itoa(i)), client.QoS1)
					require.NoError(t, err)
					require.Equal(t, client.Queued, out, "a publish during the drain queues behind it")
				}
				got, err := seen.waitN(ctx, queued+during)
				require.NoError(t, err)
				require.Equal(t, seq(0, queued+during), payloadsOf(got))

				if e.Broker != nil {
					suback, err := e.Events.WaitFor(ctx, broker.Match{Kind: broker.KindSuback, After: mark})
					require.NoError(t, err)
					require.False(t, first[0].at.Before(suback.At), "drain starts after the SUBACK")
					if e.virtual {
						// Exactly: the first at the SUBACK, then one per tick.
						for i, a := range got {
							require.Equal(t, time.Duration(i)*interval, a.at.Sub(suback.At), "request %d", i)
						}
						return
					}
					require.Less(t, first[0].at.Sub(suback.At), interval/2+20*time.Millisecond, "the first request goes at once")
				}
				s := spacingOf(got)
				t.Logf("drain at %v Hz (interval %v): mean spacing %v, min %v, worst %v over %d gaps",
					hz, interval, s.mean, s.min, s.worst, len(got)-1)
				// A ticker does not drift: the mean is exact up to the lateness
				// of the first and last tick. Single gaps vary with scheduling
				// on a loaded machine.
				require.InDelta(t, float64(interval), float64(s.mean), float64(interval)/10+float64(2*time.Millisecond), "mean spacing")
				require.Less(t, s.worst, interval+60*time.Millisecond, "worst spacing")
			})
		})
	}
}

// A cut in the middle of a drain loses nothing: the drain resumes after the
// next reconnect and the subscription still delivers.
func TestCutMidDrain(t *testing.T) { scenario(t, cutMidDrain) }

func cutMidDrain(t *testing.T, e *env) {
	ctx := testenv.Context(t)
	topic, cmd := e.topic("middrain"), e.topic("cmd")
	seen := e.observe(topic)
	cmds := make(chan string, 10)
	c := e.connect(e.config("middrain"))
	_, err := c.Subscribe(ctx, cmd, client.QoS1, func(m client.Message) { cmds <- string(m.Payload) })
	require.NoError(t, err)
	e.goOffline(c)
	for i := range 20 {
		_, err := c.PublishAsync(topic, []byte(strconv.Itoa(i)), client.QoS1, nil)
		require.NoError(t, err)
	}
	e.Proxy.SetFault(broker.HangUp, false)
	_, err = seen.waitN(ctx, 5)
	require.NoError(t, err)
	e.Proxy.CutLinks(broker.RST) // mid-drain; the client reconnects on its own
	testenv.WaitStatus(t, c, client.StatusStable)
	// Stable means the queue is empty, not that everything has arrived: a
	// last marker, sent after the drained requests, says when it has.
	_, err = c.Publish(ctx, topic, []byte("end"), client.QoS1)
	require.NoError(t, err)
	require.NoError(t, waitFor(ctx, seen, "end"))

	unique := map[string]bool{}
	var order []string
	for _, a := range seen.all() {
		if !unique[a.payload] && a.payload != "end" {
			unique[a.payload] = true
			order = append(order, a.payload)
		}
	}
	require.Equal(t, seq(0, 20), order, "all twenty, first arrivals in order")
	t.Logf("arrivals %d for 20 messages (duplicates are redeliveries of requests unacknowledged at the cut)", len(seen.all()))

	_, err = c.Publish(ctx, cmd, []byte("still subscribed"), client.QoS1)
	require.NoError(t, err)
	select {
	case p := <-cmds:
		require.Equal(t, "still subscribed", p)
	case <-ctx.Done():
		t.Fatal("the subscription did not survive the mid-drain cut")
	}
}
