package shadow_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/client/shadow"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// These tests run in a testing/synctest bubble, on the broker's in-memory
// network: the timeouts are exact.

// virtualDevice starts a broker in the bubble and connects a device with
// AWS's default timings.
func virtualDevice(t *testing.T, id string, opts ...broker.Option) (*broker.Broker, *client.Client) {
	t.Helper()
	b := broker.NewTLS(t, append(opts, broker.WithMemoryNetwork())...)
	return b, testenv.Connect(t, testenv.DeviceConfig(b, id))
}

// requestAt returns when the broker received the first request on topic.
func requestAt(t *testing.T, b *broker.Broker, topic string) time.Time {
	t.Helper()
	ev, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindPublish, Topic: topic})
	require.NoError(t, err)
	return ev.At
}

// No answer (the service is off): the asynchronous request times out
// exactly its timeout after the broker got it, the synchronous one at its
// Config.Timeout, or at its context's deadline if that is earlier.
func TestTimeoutsAreExact(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b, c := virtualDevice(t, "silent", broker.WithoutShadow())
		bot := handler(t, c, shadow.Config{ThingName: "Silent", PersistentSubscribe: true})
		timedOut := make(chan time.Time, 1)
		var got shadow.Response
		tok, err := bot.UpdateAsync([]byte(`{"state":{"reported":{"a":1}}}`), func(r shadow.Response) { got = r; timedOut <- time.Now() }, 3*time.Second)
		require.NoError(t, err)
		at := testenv.Receive(t, testenv.Context(t), timedOut, "the timeout")
		require.Equal(t, 3*time.Second, at.Sub(requestAt(t, b, "$aws/things/Silent/shadow/update")))
		require.Equal(t, shadow.Timeout, got.Status)
		require.Equal(t, tok, got.Token)
		require.ErrorIs(t, got.Err, client.ErrTimeout)

		start := time.Now()
		r, err := bot.Get(context.Background())
		require.ErrorIs(t, err, client.ErrTimeout)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, shadow.DefaultTimeout, time.Since(start), "Config.Timeout: 5 s by default")
		require.Equal(t, shadow.Timeout, r.Status)

		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start = time.Now()
		_, err = bot.Delete(ctx)
		require.ErrorIs(t, err, client.ErrTimeout)
		require.Equal(t, 2*time.Second, time.Since(start), "the context's earlier deadline")
	})
}

// An answer that comes after its request timed out is ignored: no
// callback, no version.
func TestALateAnswerIsIgnored(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b, c := virtualDevice(t, "late", broker.WithShadow(broker.ShadowOptions{ResponseDelay: 6 * time.Second}))
		bot := handler(t, c, shadow.Config{ThingName: "Late", PersistentSubscribe: true})
		start := time.Now()
		_, err := bot.Update(context.Background(), []byte(`{"state":{"reported":{"a":1}}}`))
		require.ErrorIs(t, err, client.ErrTimeout)
		require.Equal(t, 5*time.Second, time.Since(start))

		_, err = b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDeliver, ClientID: "late", Topic: "$aws/things/Late/shadow/update/accepted"})
		require.NoError(t, err)
		require.Equal(t, 6*time.Second, time.Since(start))
		synctest.Wait() // the client has dispatched it
		require.Zero(t, bot.Version(), "the late answer was ignored")

		doc, err := b.Shadow("Late", "")
		require.NoError(t, err)
		require.EqualValues(t, 1, field(t, doc, "version"), "the update itself was applied")
	})
}

// Answers carrying another request's token — another client's on the
// same topic, or this request's token on another operation's topic — are
// not this request's answer.
func TestAnswersForOtherRequestsAreIgnored(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b, c := virtualDevice(t, "picky", broker.WithShadow(broker.ShadowOptions{ResponseDelay: time.Second}))
		bot := handler(t, c, shadow.Config{ThingName: "Picky", PersistentSubscribe: true})
		_, err := bot.Get(testenv.ContextFor(t, time.Minute)) // subscribes to get's answers (404)
		require.ErrorIs(t, err, shadow.ErrRejected)

		got := make(responses, 4)
		start := time.Now()
		tok, err := bot.UpdateAsync([]byte(`{"state":{"reported":{"a":1}}}`), got.callback, 0)
		require.NoError(t, err)
		ctx := testenv.Context(t)
		require.NoError(t, b.Publish(ctx, "$aws/things/Picky/shadow/update/accepted", []byte(`{"state":{},"clientToken":"someone-else","version":99}`), 1, false))
		require.NoError(t, b.Publish(ctx, "$aws/things/Picky/shadow/update/rejected", []byte(`{"code":409,"message":"Version conflict"}`), 1, false))
		require.NoError(t, b.Publish(ctx, "$aws/things/Picky/shadow/get/accepted", []byte(`{"state":{},"clientToken":"`+tok+`","version":98}`), 1, false))
		r := got.next(t)
		require.Equal(t, time.Second, time.Since(start), "only the service's answer, a second later")
		require.Equal(t, shadow.Accepted, r.Status)
		require.Equal(t, tok, r.Token)
		require.EqualValues(t, 1, r.Version)
		require.EqualValues(t, 1, bot.Version(), "not 98 or 99")
	})
}

// A request made offline rides the client's offline queue: it goes out
// after the reconnect, behind its subscriptions, and is answered.
func TestAnUpdateMadeOfflineIsQueued(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b, c := virtualDevice(t, "offline")
		bot := handler(t, c, shadow.Config{ThingName: "Offline", PersistentSubscribe: true, Timeout: time.Minute})
		require.NoError(t, b.SetFault(broker.HangUp, true))
		b.CutLinks(broker.FIN)
		testenv.WaitStatus(t, c, client.StatusConnecting)

		got := make(responses, 1)
		tok, err := bot.UpdateAsync([]byte(`{"state":{"reported":{"battery":80}}}`), got.callback, 0)
		require.NoError(t, err)
		require.Equal(t, 3, c.QueuedRequests(), "two subscriptions and the update")
		require.NoError(t, b.SetFault(broker.HangUp, false))

		r := got.next(t)
		require.Equal(t, shadow.Accepted, r.Status)
		require.Equal(t, tok, r.Token)
		connack := b.Events.Events(broker.Match{Kind: broker.KindConnack, ClientID: "offline"})
		after := connack[len(connack)-1].Seq
		var order []string
		for _, e := range b.Events.Events(broker.Match{ClientID: "offline", After: after}) {
			switch e.Kind {
			case broker.KindSubscribe:
				order = append(order, "SUBSCRIBE "+e.Filters[0].Filter)
			case broker.KindPublish:
				order = append(order, "PUBLISH "+e.Topic)
			}
		}
		require.Equal(t, []string{
			"SUBSCRIBE $aws/things/Offline/shadow/update/accepted",
			"SUBSCRIBE $aws/things/Offline/shadow/update/rejected",
			"PUBLISH $aws/things/Offline/shadow/update",
		}, order)
		doc, err := b.Shadow("Offline", "")
		require.NoError(t, err)
		require.EqualValues(t, 80, field(t, doc, "state", "reported", "battery"))
	})
}
