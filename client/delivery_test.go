package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// countPayloads counts the PUBLISH packets the broker read for topic, by
// payload.
func countPayloads(b *broker.Broker, topic string) map[string]int {
	n := map[string]int{}
	for _, e := range b.Events.Events(broker.Match{Kind: broker.KindPublish, Topic: topic}) {
		n[string(e.Payload)]++
	}
	return n
}

// stuckTopic is a topic the broker reads but never acknowledges (see
// withStuckTopic): a QoS 1 publish to it stays in flight.
const stuckTopic = "stuck/never-acked"

// withStuckTopic makes b withhold the PUBACK of publishes to stuckTopic.
func withStuckTopic(t *testing.T, b *broker.Broker) {
	t.Helper()
	require.NoError(t, b.SetFault(broker.WithholdPubackOn(stuckTopic), true))
}

// Requests that were finished on a connection — QoS 0 written, QoS 1
// acknowledged — are not sent again when that connection drops, even while
// an older request on it still waits for its PUBACK.
func TestFinishedRequestsAreNotSentAgainAfterALinkDrop(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	withStuckTopic(t, b)
	cfg := deviceConfig(b, "once")
	cfg.ConfigureDrainingFrequency(200)
	c := testenv.Connect(t, cfg)
	goOffline(t, b, c)
	_, err := c.PublishAsync(stuckTopic, []byte("stuck"), client.QoS1, nil)
	require.NoError(t, err)
	for i := range 5 {
		_, err = c.PublishAsync("once/q0", []byte(fmt.Sprint(i)), client.QoS0, nil)
		require.NoError(t, err)
		_, err = c.PublishAsync("once/q1", []byte(fmt.Sprint(i)), client.QoS1, nil)
		require.NoError(t, err)
	}
	require.NoError(t, b.SetFault(broker.Refuse, false))
	testenv.WaitStatus(t, c, client.StatusStable)
	// A direct QoS 1 round trip: once it is acknowledged, the client has
	// read every acknowledgement the broker sent before it.
	out, err := c.Publish(ctx, "once/marker", []byte("1"), client.QoS1)
	require.NoError(t, err)
	require.Equal(t, client.Sent, out)

	mark := b.Events.Seq()
	b.CutLinks(broker.FIN)
	_, err = b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnack, ClientID: "once", After: mark})
	require.NoError(t, err)
	testenv.WaitStatus(t, c, client.StatusStable)
	out, err = c.Publish(ctx, "once/marker", []byte("2"), client.QoS1)
	require.NoError(t, err)
	require.Equal(t, client.Sent, out)

	want := map[string]int{"0": 1, "1": 1, "2": 1, "3": 1, "4": 1}
	require.Equal(t, want, countPayloads(b, "once/q0"), "QoS 0 written once")
	require.Equal(t, want, countPayloads(b, "once/q1"), "acknowledged QoS 1 sent once")
	require.Equal(t, 2, countPayloads(b, stuckTopic)["stuck"], "the unacknowledged one is sent again")
}

// One missing PUBACK does not hold back the acknowledgements of the
// requests sent after it.
func TestAMissingPubackDoesNotHoldBackLaterAcks(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	withStuckTopic(t, b)
	c := testenv.Connect(t, deviceConfig(b, "unblocked"))
	stuck := make(chan error, 1)
	_, err := c.PublishAsync(stuckTopic, []byte("stuck"), client.QoS1, func(err error) { stuck <- err })
	require.NoError(t, err)
	acks := make(chan error, 5)
	for i := range 5 {
		_, err := c.PublishAsync("unblocked", []byte(fmt.Sprint(i)), client.QoS1, func(err error) { acks <- err })
		require.NoError(t, err)
	}
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for i := range 5 {
		select {
		case err := <-acks:
			require.NoError(t, err)
		case <-short.Done():
			t.Fatalf("%d of 5 later publishes got their ack callback", i)
		}
	}
	require.Empty(t, stuck, "the unacknowledged publish has no result yet")
}

// A request the broker answers by closing the connection is identified
// after RejectAfterCloses attempts, failed with ErrRejectedByBroker and
// removed; the requests behind it go out.
func TestARequestThatCostsTheLinkIsRemovedAndTheRestProceeds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// The broker closes the connection on a packet over 150,000 bytes, as
		// AWS IoT Core does for a payload over 128 KiB.
		b := virtualBroker(t, broker.WithCapabilities(func(c *mqtt.Capabilities) { c.MaximumPacketSize = 150_000 }))
		ctx := testenv.Context(t)
		cfg := deviceConfig(b, "poisoned")
		cfg.MaxPayloadSize = 1 << 20 // the client does not know the broker's limit
		c := testenv.Connect(t, cfg)
		goOffline(t, b, c)
		results := make(chan string, 10)
		ack := func(name string) func(error) {
			return func(err error) { results <- fmt.Sprint(name, ":", err) }
		}
		_, err := c.PublishAsync("p/before", []byte("ok"), client.QoS1, ack("before"))
		require.NoError(t, err)
		_, err = c.PublishAsync("p/huge", make([]byte, 200_000), client.QoS1, ack("huge"))
		require.NoError(t, err)
		for i := range 5 {
			_, err = c.PublishAsync("p/after", []byte(fmt.Sprint(i)), client.QoS1, ack(fmt.Sprint("after", i)))
			require.NoError(t, err)
		}
		require.NoError(t, b.SetFault(broker.Refuse, false))
		var got []string
		for range 7 {
			select {
			case r := <-results:
				got = append(got, r)
			case <-ctx.Done():
				t.Fatalf("results so far: %v\n%s", got, strings.Join(eventLines(b), "\n"))
			}
		}
		require.Contains(t, got, "before:<nil>")
		for i := range 5 {
			require.Contains(t, got, fmt.Sprintf("after%d:<nil>", i))
		}
		var huge string
		for _, r := range got {
			if strings.HasPrefix(r, "huge:") {
				huge = r
			}
		}
		require.Contains(t, huge, "closed the connection", "the poisoned request's callback says why")
		require.Zero(t, c.QueuedRequests())
	})
}

func eventLines(b *broker.Broker) []string {
	var out []string
	for _, e := range b.Events.Events(broker.Match{}) {
		out = append(out, e.String())
	}
	return out
}

// callDurations runs calls and returns the longest.
func longest(n int, call func(i int)) time.Duration {
	var worst time.Duration
	for i := range n {
		start := time.Now()
		call(i)
		worst = max(worst, time.Since(start))
	}
	return worst
}

// Asynchronous calls never wait on the network, even when the link stalls
// with its buffers full.
func TestAsyncCallsNeverBlockOnAStalledLink(t *testing.T) {
	b := newBroker(t)
	cfg := deviceConfig(b, "stalled")
	cfg.ConfigureMQTTOperationTimeout(3 * time.Second)
	c := testenv.Connect(t, cfg)
	stall(t, b, c)
	payload := make([]byte, 16<<10)
	worst := longest(600, func(i int) {
		_, err := c.PublishAsync("stall", payload, client.QoS1, nil)
		require.NoError(t, err)
	})
	t.Logf("longest PublishAsync on a stalled link: %v", worst)
	require.Less(t, worst, 500*time.Millisecond, "PublishAsync waited on the network")
}

// A synchronous call returns by its context's deadline, even when the link
// stalls with its buffers full.
func TestSyncCallsReturnByTheirDeadlineOnAStalledLink(t *testing.T) {
	b := newBroker(t)
	cfg := deviceConfig(b, "deadline")
	cfg.ConfigureMQTTOperationTimeout(3 * time.Second)
	c := testenv.Connect(t, cfg)
	stall(t, b, c)
	worst := longest(5, func(int) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		out, err := c.Publish(ctx, "stall", []byte("x"), client.QoS1)
		require.ErrorIs(t, err, client.ErrTimeout)
		// Pending, or, on a loaded machine, NotAccepted: the context ended
		// before the call.
		require.Contains(t, []client.Outcome{client.Pending, client.NotAccepted}, out)
	})
	t.Logf("longest Publish with a 1 ms context on a stalled link: %v", worst)
	require.Less(t, worst, 500*time.Millisecond, "Publish with a 1 ms context")
}

// Disconnect returns within its bound while the drain is stuck on a stalled
// link.
func TestDisconnectIsPromptWhileTheDrainStalls(t *testing.T) {
	b := newBroker(t)
	cfg := deviceConfig(b, "drainstall")
	cfg.ConfigureMQTTOperationTimeout(3 * time.Second)
	cfg.ConfigureDrainingFrequency(1000)
	c := testenv.Connect(t, cfg)
	goOffline(t, b, c)
	payload := make([]byte, client.DefaultMaxPayloadSize)
	for range 200 { // 25 MiB: more than the socket buffers hold
		_, err := c.PublishAsync("drain", payload, client.QoS1, nil)
		require.NoError(t, err)
	}
	ctx := testenv.Context(t)
	mark := b.Events.Seq()
	require.NoError(t, b.SetFault(broker.Refuse, false))
	_, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "drain", After: mark})
	require.NoError(t, err)
	b.SetFault(broker.Blackhole, true)
	defer b.SetFault(broker.Blackhole, false)
	// The drain hands every request to the connection although nothing
	// moves: the queue empties.
	testenv.WaitStatus(t, c, client.StatusStable)
	start := time.Now()
	require.NoError(t, c.Disconnect(ctx))
	t.Logf("Disconnect while the drain stalls: %v", time.Since(start))
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, client.StatusIdle, c.Status())
}

// A synchronous Publish made around a cut returns promptly with a true
// outcome: Sent only for what the broker received, Queued otherwise.
func TestSyncPublishAcrossCutsTellsTheTruth(t *testing.T) {
	b := newBroker(t, testenv.Unthrottled()) // 500 publishes at once: over AWS's 100/s
	ctx := testenv.Context(t)
	cfg := deviceConfig(b, "truthful")
	cfg.ConfigureDrainingFrequency(1000)
	c := testenv.Connect(t, cfg)
	type result struct {
		payload string
		out     client.Outcome
		err     error
		took    time.Duration
		mark    uint64 // the recorder's sequence number when the call returned
	}
	for round := range 3 {
		testenv.WaitStatus(t, c, client.StatusStable)
		results := make(chan result, 500)
		var wg sync.WaitGroup
		for w := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					p := fmt.Sprintf("%d-%d-%d", round, w, i)
					start := time.Now()
					out, err := c.Publish(ctx, "truth", []byte(p), client.QoS1)
					results <- result{p, out, err, time.Since(start), b.Events.Seq()}
				}
			}()
		}
		mark := b.Events.Seq()
		_, err := b.Events.WaitForN(ctx, 50, broker.Match{Kind: broker.KindPublish, Topic: "truth", After: mark})
		require.NoError(t, err)
		b.CutLinks(broker.FIN)
		wg.Wait()
		close(results)
		for r := range results {
			require.NoError(t, r.err)
			require.Less(t, r.took, 2*time.Second, "%s took %v", r.payload, r.took)
			if r.out == client.Sent {
				seen := b.Events.Events(broker.Match{Kind: broker.KindPublish, Topic: "truth", Where: func(e broker.Event) bool {
					return string(e.Payload) == r.payload && e.Seq <= r.mark
				}})
				require.NotEmpty(t, seen, "%s returned Sent before the broker had it", r.payload)
			}
		}
	}
}

// Once the last queued request has gone out the client is stable at once:
// a new request goes straight out instead of waiting a drain interval.
func TestStableAsSoonAsTheQueueIsEmpty(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t)
		ctx := testenv.Context(t)
		cfg := deviceConfig(b, "prompt")
		cfg.ConfigureDrainingFrequency(0.2) // 5 s between drained requests
		c := testenv.Connect(t, cfg)
		goOffline(t, b, c)
		_, err := c.Publish(ctx, "prompt", []byte("queued"), client.QoS1)
		require.NoError(t, err)
		mark := b.Events.Seq()
		require.NoError(t, b.SetFault(broker.Refuse, false))
		drained, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "prompt", After: mark})
		require.NoError(t, err)
		out, err := c.Publish(ctx, "prompt", []byte("next"), client.QoS1)
		require.NoError(t, err)
		next, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "prompt", After: drained.Seq})
		require.NoError(t, err)
		t.Logf("the next request reached the broker %v after the last drained one (drain interval 5 s)", next.At.Sub(drained.At))
		require.Equal(t, time.Duration(0), next.At.Sub(drained.At), "the new request did not wait for the next drain tick (outcome %v)", out)
	})
}

// A request whose context has already ended is neither sent nor queued.
func TestACancelledContextSendsNothing(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	c := testenv.Connect(t, deviceConfig(b, "cancelled"))
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 20 {
		_, err := c.Publish(done, "cancelled", []byte(fmt.Sprint(i)), client.QoS1)
		require.ErrorIs(t, err, context.Canceled)
		_, err = c.Subscribe(done, "cancelled/sub", client.QoS1, nil)
		require.ErrorIs(t, err, context.Canceled)
	}
	ctx := testenv.Context(t)
	out, err := c.Publish(ctx, "cancelled", []byte("marker"), client.QoS1)
	require.NoError(t, err)
	require.Equal(t, client.Sent, out)
	require.Equal(t, map[string]int{"marker": 1}, countPayloads(b, "cancelled"), "only the marker reached the broker")
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindSubscribe, ClientID: "cancelled"}))
}

// An asynchronous QoS 0 publish on a stable connection is in flight at
// once and its callback fires when it is written; the broker gets it once.
func TestAsyncQoS0OnAStableLink(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	c := testenv.Connect(t, deviceConfig(b, "async0"))
	acks := make(chan error, 10)
	for i := range 10 {
		out, err := c.PublishAsync("async0", []byte(fmt.Sprint(i)), client.QoS0, func(err error) { acks <- err })
		require.NoError(t, err)
		require.Contains(t, []client.Outcome{client.InFlight, client.Queued}, out, "in flight, or queued behind the ones before it")
	}
	for range 10 {
		select {
		case err := <-acks:
			require.NoError(t, err)
		case <-ctx.Done():
			t.Fatal("ack callback missing")
		}
	}
	require.NoError(t, c.Flush(ctx))
	_, err := b.Events.WaitForN(ctx, 10, broker.Match{Kind: broker.KindPublish, Topic: "async0"})
	require.NoError(t, err)
	want := map[string]int{}
	for i := range 10 {
		want[fmt.Sprint(i)] = 1
	}
	require.Equal(t, want, countPayloads(b, "async0"))
}

// A sender faster than the connection is held to the queue's bound: what
// the connection has not taken waits in the queue, under its policy.
func TestAFastSenderIsHeldToTheQueueBound(t *testing.T) {
	b := newBroker(t, testenv.Unthrottled()) // fast sender: AWS would delay it to 512 KiB/s
	ctx := testenv.Context(t)
	cfg := deviceConfig(b, "bounded")
	cfg.ConfigureOfflinePublishQueueing(100, client.DropNewest)
	c := testenv.Connect(t, cfg)
	b.SetFault(broker.Blackhole, true) // the connection takes a little, then nothing
	t.Cleanup(func() { b.SetFault(broker.Blackhole, false) })
	payload := make([]byte, 16<<10)
	full := 0
	for range 2000 {
		if _, err := c.PublishAsync("bounded", payload, client.QoS1, nil); errors.Is(err, client.ErrQueueFull) {
			full++
		}
	}
	require.Positive(t, full, "the bound held")
	require.LessOrEqual(t, c.QueuedRequests(), 100)
	b.SetFault(broker.Blackhole, false)
	require.NoError(t, c.Flush(ctx))
}
