package shadow_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/client/shadow"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// device connects a client to b with scaled timings (back-off 50 ms).
func device(t *testing.T, b *broker.Broker, id string) *client.Client {
	t.Helper()
	cfg := testenv.DeviceConfig(b, id)
	testenv.Scale(&cfg, 50*time.Millisecond)
	return testenv.Connect(t, cfg)
}

func handler(t *testing.T, c *client.Client, cfg shadow.Config) *shadow.Handler {
	t.Helper()
	h, err := shadow.NewHandler(c, cfg)
	require.NoError(t, err)
	return h
}

// responses collects a callback's responses.
type responses chan shadow.Response

func (r responses) callback(resp shadow.Response) { r <- resp }

func (r responses) next(t *testing.T) shadow.Response {
	t.Helper()
	return testenv.Receive(t, testenv.Context(t), r, "a shadow response")
}

func field(t *testing.T, doc []byte, path ...string) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(doc, &v), "%s", doc)
	for _, p := range path {
		v = v.(map[string]any)[p]
	}
	return v
}

func TestUpdateGetDelete(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	bot := handler(t, device(t, b, "Bot"), shadow.Config{ThingName: "Bot", PersistentSubscribe: true})

	r, err := bot.Update(ctx, []byte(`{"state":{"reported":{"property":1}}}`))
	require.NoError(t, err)
	require.Equal(t, shadow.Accepted, r.Status)
	require.EqualValues(t, 1, r.Version)
	require.Equal(t, r.Token, field(t, r.Payload, "clientToken"), "the answer carries the request's token")
	require.EqualValues(t, 1, bot.Version())

	r, err = bot.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, shadow.Accepted, r.Status)
	require.EqualValues(t, 1, field(t, r.Payload, "state", "reported", "property"))

	r, err = bot.Delete(ctx)
	require.NoError(t, err)
	require.Equal(t, shadow.Accepted, r.Status)
	require.EqualValues(t, 1, r.Version, "the deleted version")
	require.Zero(t, bot.Version(), "an accepted delete resets the version")

	r, err = bot.Get(ctx)
	var rejected *shadow.RejectedError
	require.ErrorAs(t, err, &rejected)
	require.ErrorIs(t, err, shadow.ErrRejected)
	require.Equal(t, 404, rejected.Code)
	require.Equal(t, "No shadow exists with name: 'Bot'", rejected.Message)
	require.Equal(t, shadow.Rejected, r.Status)
	require.EqualValues(t, 404, field(t, r.Payload, "code"))

	r, err = bot.Update(ctx, []byte(`{"state":{"reported":{"property":2}},"version":7}`))
	require.ErrorAs(t, err, &rejected)
	require.Equal(t, 409, rejected.Code, "optimistic locking")
	require.Equal(t, shadow.Rejected, r.Status)
}

// The asynchronous forms return the token at once and give each answer to
// its callback, in order.
func TestAsyncCallbacks(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	bot := handler(t, device(t, b, "async"), shadow.Config{ThingName: "Async"})
	got := make(responses, 10)
	del, err := bot.DeleteAsync(got.callback, 0)
	require.NoError(t, err)
	up, err := bot.UpdateAsync([]byte(`{"state":{"desired":{"property":0}}}`), got.callback, 5*time.Second)
	require.NoError(t, err)
	get, err := bot.GetAsync(got.callback, 0)
	require.NoError(t, err)

	r := got.next(t)
	require.Equal(t, del, r.Token)
	require.Equal(t, shadow.Rejected, r.Status, "nothing to delete yet")
	r = got.next(t)
	require.Equal(t, up, r.Token)
	require.Equal(t, shadow.Accepted, r.Status)
	r = got.next(t)
	require.Equal(t, get, r.Token)
	require.EqualValues(t, 0, field(t, r.Payload, "state", "desired", "property"))
	require.EqualValues(t, 1, r.Version)
}

func TestNamedShadow(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	c := device(t, b, "named")
	cfg := handler(t, c, shadow.Config{ThingName: "Bot", ShadowName: "config", PersistentSubscribe: true})
	classic := handler(t, c, shadow.Config{ThingName: "Bot", PersistentSubscribe: true})
	_, err := cfg.Update(ctx, []byte(`{"state":{"reported":{"mode":"eco"}}}`))
	require.NoError(t, err)
	doc, err := b.Shadow("Bot", "config")
	require.NoError(t, err)
	require.Equal(t, "eco", field(t, doc, "state", "reported", "mode"))
	_, err = classic.Get(ctx)
	require.ErrorIs(t, err, shadow.ErrRejected, "the classic shadow is another document")
	pub, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, ClientID: "named", Topic: "$aws/things/Bot/shadow/name/config/update"})
	require.NoError(t, err)
	require.Equal(t, byte(1), pub.QoS)
}

// An application sets desired state; the device gets the delta and, from
// its delta callback, reports with a blocking Update.
func TestDeltaCallbackCanReport(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	bot := handler(t, device(t, b, "delta-device"), shadow.Config{ThingName: "Lamp", PersistentSubscribe: true})
	reported := make(chan error, 1)
	deltas := make(responses, 10)
	require.NoError(t, bot.RegisterDeltaCallback(ctx, func(r shadow.Response) {
		deltas <- r
		state, _ := json.Marshal(field(t, r.Payload, "state"))
		_, err := bot.Update(ctx, fmt.Appendf(nil, `{"state":{"reported":%s}}`, state))
		reported <- err
	}))

	_, err := b.UpdateShadow(ctx, "Lamp", "", []byte(`{"state":{"desired":{"on":true,"level":3}}}`))
	require.NoError(t, err)
	r := deltas.next(t)
	require.Equal(t, shadow.Delta, r.Status)
	require.EqualValues(t, 1, r.Version)
	require.NoError(t, testenv.Receive(t, ctx, reported, "the report"))
	doc, err := b.Shadow("Lamp", "")
	require.NoError(t, err)
	require.Equal(t, map[string]any{"desired": map[string]any{"on": true, "level": 3.0}, "reported": map[string]any{"on": true, "level": 3.0}}, field(t, doc, "state"))
	require.EqualValues(t, 2, bot.Version())

	require.NoError(t, bot.UnregisterDeltaCallback(ctx))
	mark := b.Events.Seq()
	_, err = b.UpdateShadow(ctx, "Lamp", "", []byte(`{"state":{"desired":{"on":false}}}`))
	require.NoError(t, err) // returns once the delta is handed to every subscriber
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDeliver, ClientID: "delta-device", Topic: "$aws/things/Lamp/shadow/update/delta", After: mark}),
		"unsubscribed: no delta delivered")
	require.Equal(t, 1, b.Events.Count(broker.Match{Kind: broker.KindDeliver, ClientID: "delta-device", Topic: "$aws/things/Lamp/shadow/update/accepted", After: mark}),
		"(still subscribed to update/accepted)")
	require.Empty(t, deltas)
}

// A delta that is not newer than the version the handler has seen is
// stale and discarded.
func TestStaleDeltaIsDiscarded(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	bot := handler(t, device(t, b, "stale-device"), shadow.Config{ThingName: "Stale", PersistentSubscribe: true})
	for range 5 {
		_, err := bot.Update(ctx, []byte(`{"state":{"reported":{"n":1}}}`))
		require.NoError(t, err)
	}
	require.EqualValues(t, 5, bot.Version())
	deltas := make(responses, 10)
	require.NoError(t, bot.RegisterDeltaCallback(ctx, deltas.callback))
	topic := "$aws/things/Stale/shadow/update/delta"
	for _, doc := range []string{`{"state":{"n":3},"version":3}`, `{"state":{"n":5},"version":5}`, `not json`, `{"state":{"n":6},"version":6}`} {
		require.NoError(t, b.Publish(ctx, topic, []byte(doc), 1, false))
	}
	r := deltas.next(t)
	require.EqualValues(t, 6, r.Version, "versions 3 and 5 were stale, and the invalid one ignored")
	require.EqualValues(t, 6, bot.Version())
	require.Empty(t, deltas)
}

func TestInvalidRequestsAreRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	c := device(t, b, "refusing")

	_, err := shadow.NewHandler(c, shadow.Config{ThingName: "a.b"})
	require.EqualError(t, err, `shadow: the thing name "a.b" contains '.'; AWS IoT allows only a-z, A-Z, 0-9, ':', '_' and '-'`)
	_, err = shadow.NewHandler(c, shadow.Config{ThingName: "t", ShadowName: strings.Repeat("n", 65)})
	require.EqualError(t, err, "shadow: the shadow name is 65 bytes, more than AWS IoT's 64")
	_, err = shadow.NewHandler(c, shadow.Config{ThingName: "t", Timeout: -time.Second})
	require.EqualError(t, err, "shadow: Timeout -1s is negative")
	_, err = shadow.NewHandler(nil, shadow.Config{ThingName: "t"})
	require.EqualError(t, err, "shadow: NewHandler needs a client")

	bot := handler(t, c, shadow.Config{ThingName: "Refusing", PersistentSubscribe: true})
	mark := b.Events.Seq()
	for _, doc := range []string{`{"state":`, `[1]`, `null`, `{"state":{},"clientToken":7}`, `{"state":{},"clientToken":"` + strings.Repeat("t", 65) + `"}`} {
		r, err := bot.Update(ctx, []byte(doc))
		require.ErrorIs(t, err, shadow.ErrInvalidDocument, doc)
		require.Equal(t, shadow.Failed, r.Status)
		_, err = bot.UpdateAsync([]byte(doc), nil, 0)
		require.ErrorIs(t, err, shadow.ErrInvalidDocument, doc)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = bot.Get(cancelled)
	require.ErrorIs(t, err, context.Canceled)
	require.Zero(t, b.Events.Count(broker.Match{ClientID: "refusing", After: mark}), "nothing was sent")

	// A document's own clientToken is kept; it cannot be used twice at once.
	got := make(responses, 2)
	tok, err := bot.UpdateAsync([]byte(`{"state":{"reported":{"a":1}},"clientToken":"mine"}`), got.callback, 0)
	require.NoError(t, err)
	require.Equal(t, "mine", tok)
	_, err = bot.UpdateAsync([]byte(`{"state":{"reported":{"a":2}},"clientToken":"mine"}`), got.callback, 0)
	require.ErrorIs(t, err, shadow.ErrInvalidDocument)
	require.Equal(t, "mine", got.next(t).Token)

	idle, err := client.New(testenv.DeviceConfig(b, "idle"))
	require.NoError(t, err)
	_, err = handler(t, idle, shadow.Config{ThingName: "Idle"}).Get(ctx)
	require.ErrorIs(t, err, client.ErrNotConnected)
}

// With PersistentSubscribe an operation's answer topics are subscribed at
// its first request and kept; without, they are subscribed per request and
// unsubscribed after the answer (Python's isPersistentSubscribe).
func TestPersistentAndPerRequestSubscriptions(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	accepted := "$aws/things/%s/shadow/update/accepted"
	subscribes := func(id, thing string) (subs, unsubs int) {
		has := func(e broker.Event) bool {
			for _, f := range e.Filters {
				if f.Filter == fmt.Sprintf(accepted, thing) {
					return true
				}
			}
			return false
		}
		return b.Events.Count(broker.Match{Kind: broker.KindSubscribe, ClientID: id, Where: has}),
			b.Events.Count(broker.Match{Kind: broker.KindUnsubscribe, ClientID: id, Where: has})
	}
	for _, persistent := range []bool{true, false} {
		id := fmt.Sprintf("subs-%v", persistent)
		bot := handler(t, device(t, b, id), shadow.Config{ThingName: id, PersistentSubscribe: persistent})
		for i := range 3 {
			_, err := bot.Update(ctx, fmt.Appendf(nil, `{"state":{"reported":{"n":%d}}}`, i))
			require.NoError(t, err)
		}
		if !persistent {
			_, err := b.Events.WaitForN(ctx, 6, broker.Match{Kind: broker.KindUnsuback, ClientID: id}) // accepted and rejected, 3 times
			require.NoError(t, err)
		}
		subs, unsubs := subscribes(id, id)
		if persistent {
			require.Equal(t, [2]int{1, 0}, [2]int{subs, unsubs}, "subscribed once, kept")
		} else {
			require.Equal(t, [2]int{3, 3}, [2]int{subs, unsubs}, "subscribed and unsubscribed per request")
		}
	}
}

// A refused subscription means no answer can come: the request fails at
// once instead of timing out.
func TestRefusedSubscriptionFailsTheRequest(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	require.NoError(t, b.SetFault(broker.RefuseSubscription("$aws/things/Refused/shadow/get/rejected"), true))
	bot := handler(t, device(t, b, "refused"), shadow.Config{ThingName: "Refused", Timeout: time.Hour})
	r, err := bot.Get(testenv.Context(t))
	require.ErrorIs(t, err, client.ErrSubscriptionRefused)
	require.Equal(t, shadow.Failed, r.Status)
}

func TestAPanickingCallbackIsRecovered(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	var log testenv.Buffer
	bot := handler(t, device(t, b, "panicky"), shadow.Config{ThingName: "Panicky", PersistentSubscribe: true,
		Logger: slog.New(slog.NewTextHandler(&log, nil))})
	_, err := bot.GetAsync(func(shadow.Response) { panic("boom") }, 0)
	require.NoError(t, err)
	got := make(responses, 1)
	_, err = bot.UpdateAsync([]byte(`{"state":{"reported":{"a":1}}}`), got.callback, 0)
	require.NoError(t, err)
	require.Equal(t, shadow.Accepted, got.next(t).Status, "the callback after the panicking one runs")
	require.Contains(t, log.String(), "callback panicked; recovered")
	require.Contains(t, log.String(), "boom")
}
