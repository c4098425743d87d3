package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/awsiot"
	"github.com/iotmqtt/iotmqtt/internal/shadowtopic"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// These tests speak the shadow protocol with raw paho clients, as any
// device SDK would: a device publishes requests, and a watcher — another
// client — subscribes to the response topics.

// responseTopics are the eight topics the service publishes for a shadow.
func responseTopics(sh shadowtopic.Shadow) []string {
	return []string{
		sh.Response(shadowtopic.Get, shadowtopic.Accepted), sh.Response(shadowtopic.Get, shadowtopic.Rejected),
		sh.Response(shadowtopic.Update, shadowtopic.Accepted), sh.Response(shadowtopic.Update, shadowtopic.Rejected),
		sh.Response(shadowtopic.Update, shadowtopic.Delta), sh.Response(shadowtopic.Update, shadowtopic.Documents),
		sh.Response(shadowtopic.Delete, shadowtopic.Accepted), sh.Response(shadowtopic.Delete, shadowtopic.Rejected),
	}
}

// watcher is a client subscribed to a shadow's response topics (and any
// extra topics), collecting what arrives, in order.
type watcher struct {
	t    *testing.T
	msgs chan paho.Message
}

func watch(t *testing.T, pc paho.Client, sh shadowtopic.Shadow, extra ...string) *watcher {
	t.Helper()
	w := &watcher{t: t, msgs: make(chan paho.Message, 100)}
	topics := append(responseTopics(sh), extra...)
	for len(topics) > 0 {
		n := min(len(topics), awsiot.MaxFiltersPerSubscribe)
		filters := map[string]byte{}
		for _, f := range topics[:n] {
			filters[f] = 1
		}
		require.NoError(t, testenv.WaitToken(pc.SubscribeMultiple(filters, func(_ paho.Client, m paho.Message) { w.msgs <- m })))
		topics = topics[n:]
	}
	return w
}

// next returns the next message's topic and payload.
func (w *watcher) next() (string, string) {
	w.t.Helper()
	m := testenv.Receive(w.t, testenv.Context(w.t), w.msgs, "a shadow answer")
	return m.Topic(), string(m.Payload())
}

// expect returns the payload of the next message, which must be on topic.
func (w *watcher) expect(topic string) string {
	w.t.Helper()
	got, payload := w.next()
	require.Equal(w.t, topic, got, "payload %s", payload)
	return payload
}

// request publishes a shadow request at QoS 1 and waits for its PUBACK.
func request(t *testing.T, pc paho.Client, sh shadowtopic.Shadow, op shadowtopic.Op, payload string) {
	t.Helper()
	require.NoError(t, testenv.WaitToken(pc.Publish(sh.Request(op), 1, false, payload)))
}

// field decodes one field of a JSON document.
func field(t *testing.T, doc, name string) any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(doc), &m), doc)
	return m[name]
}

// shadowEvents returns the recorded shadow operations on a thing.
func shadowEvents(b *broker.Broker, thing string) []broker.Event {
	return b.Events.Events(broker.Match{Kind: broker.KindShadow, Where: func(e broker.Event) bool { return e.Thing == thing }})
}

// An update is answered on update/accepted, update/delta and
// update/documents to every subscriber: versions count up from 1, every
// written field carries the update's time in epoch seconds, and the
// clientToken comes back in each message.
func TestShadowUpdateOnTheWire(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	sh := shadowtopic.Shadow{Thing: "wire-update"}
	device, app := connected(t, b, "device"), connected(t, b, "app")
	w := watch(t, app, sh)

	before := time.Now().Unix()
	request(t, device, sh, shadowtopic.Update, `{"state":{"desired":{"color":"RED","n":1}},"clientToken":"tok-1"}`)
	accepted := w.expect(sh.Response(shadowtopic.Update, shadowtopic.Accepted))
	ev := shadowEvents(b, sh.Thing)
	require.Len(t, ev, 1)
	ts := ev[0].At.Unix()
	require.True(t, before <= ts && ts <= time.Now().Unix(), "the timestamp is the time of the update, in seconds")
	require.JSONEq(t, fmt.Sprintf(`{"state":{"desired":{"color":"RED","n":1}},
		"metadata":{"desired":{"color":{"timestamp":%d},"n":{"timestamp":%[1]d}}},"version":1,"timestamp":%[1]d,"clientToken":"tok-1"}`, ts), accepted)
	require.JSONEq(t, fmt.Sprintf(`{"state":{"color":"RED","n":1},
		"metadata":{"color":{"timestamp":%d},"n":{"timestamp":%[1]d}},"version":1,"timestamp":%[1]d,"clientToken":"tok-1"}`, ts),
		w.expect(sh.Response(shadowtopic.Update, shadowtopic.Delta)))
	require.JSONEq(t, fmt.Sprintf(`{"previous":{"state":{},"metadata":{},"version":0},
		"current":{"state":{"desired":{"color":"RED","n":1}},"metadata":{"desired":{"color":{"timestamp":%d},"n":{"timestamp":%[1]d}}},"version":1},
		"timestamp":%[1]d,"clientToken":"tok-1"}`, ts), w.expect(sh.Response(shadowtopic.Update, shadowtopic.Documents)))

	request(t, device, sh, shadowtopic.Update, `{"state":{"reported":{"color":"RED","n":1}}}`)
	accepted = w.expect(sh.Response(shadowtopic.Update, shadowtopic.Accepted))
	require.EqualValues(t, 2, field(t, accepted, "version"), "+1")
	require.Nil(t, field(t, accepted, "clientToken"), "none sent, none echoed")
	documents := w.expect(sh.Response(shadowtopic.Update, shadowtopic.Documents)) // desired = reported: no delta
	require.EqualValues(t, 2, field(t, documents, "current").(map[string]any)["version"])

	ev = shadowEvents(b, sh.Thing)
	require.Len(t, ev, 2)
	require.Equal(t, "device", ev[1].ClientID)
	require.Equal(t, "update", ev[1].ShadowOp)
	require.Equal(t, 200, ev[1].HTTPStatus)
	require.Equal(t, sh.Request(shadowtopic.Update), ev[1].Topic)
	require.JSONEq(t, accepted, string(ev[1].Payload), "the event carries the answer")
	require.Contains(t, ev[1].String(), "SHADOW client=device update thing=wire-update code=200")
}

// Each merge rule AWS documents, over MQTT: the get after two updates.
func TestShadowMergeRulesOnTheWire(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	device := connected(t, b, "merger")
	tests := []struct {
		name          string
		first, second string
		want          string // get/accepted's state
	}{
		{"objects merge", `{"desired":{"a":1,"o":{"x":1}}}`, `{"desired":{"b":2,"o":{"y":2}}}`,
			`{"desired":{"a":1,"b":2,"o":{"x":1,"y":2}},"delta":{"a":1,"b":2,"o":{"x":1,"y":2}}}`},
		{"arrays replace", `{"reported":{"c":["RED","GREEN"]}}`, `{"reported":{"c":["BLUE"]}}`, `{"reported":{"c":["BLUE"]}}`},
		{"scalars replace", `{"reported":{"a":1,"o":{"x":1}}}`, `{"reported":{"a":"one","o":2}}`, `{"reported":{"a":"one","o":2}}`},
		{"null deletes", `{"reported":{"a":1,"o":{"x":1,"y":2}}}`, `{"reported":{"a":null,"o":{"x":null}}}`, `{"reported":{"o":{"y":2}}}`},
		{"a null section is removed", `{"desired":{"a":1},"reported":{"a":2}}`, `{"desired":null}`, `{"reported":{"a":2}}`},
		{"a null state empties the shadow", `{"desired":{"a":1},"reported":{"a":2}}`, `null`, `{}`},
	}
	for i, tt := range tests {
		sh := shadowtopic.Shadow{Thing: fmt.Sprintf("merge-%d", i)}
		t.Run(tt.name, func(t *testing.T) {
			w := watch(t, device, sh)
			request(t, device, sh, shadowtopic.Update, `{"state":`+tt.first+`}`)
			request(t, device, sh, shadowtopic.Update, `{"state":`+tt.second+`}`)
			request(t, device, sh, shadowtopic.Get, ``)
			var got string
			for got == "" {
				if topic, payload := w.next(); topic == sh.Response(shadowtopic.Get, shadowtopic.Accepted) {
					got = payload
				}
			}
			state, err := json.Marshal(field(t, got, "state"))
			require.NoError(t, err)
			require.JSONEq(t, tt.want, string(state))
			require.EqualValues(t, 2, field(t, got, "version"))
		})
	}
}

// Rejections arrive on <op>/rejected with AWS's code and message, echoing
// a valid clientToken, and change nothing.
func TestShadowErrorsOnTheWire(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	device := connected(t, b, "erring")
	sh := shadowtopic.Shadow{Thing: "wire-errors"}
	w := watch(t, device, sh)
	request(t, device, sh, shadowtopic.Update, `{"state":{"reported":{"keep":1}}}`)
	w.expect(sh.Response(shadowtopic.Update, shadowtopic.Accepted))
	w.expect(sh.Response(shadowtopic.Update, shadowtopic.Documents))

	tooLong := strings.Repeat("t", 65)
	tests := []struct {
		name    string
		op      shadowtopic.Op
		payload string
		want    string
	}{
		{"invalid JSON", shadowtopic.Update, `{"state":{`, `{"code":400,"message":"Invalid JSON"}`},
		{"missing state", shadowtopic.Update, `{"clientToken":"c1"}`, `{"code":400,"message":"Missing required node: state","clientToken":"c1"}`},
		{"a clientToken over 64 bytes", shadowtopic.Update, `{"state":{},"clientToken":"` + tooLong + `"}`, `{"code":400,"message":"Invalid clientToken"}`},
		{"version conflict", shadowtopic.Update, `{"state":{"reported":{"keep":2}},"version":7,"clientToken":"c2"}`, `{"code":409,"message":"Version conflict","clientToken":"c2"}`},
		{"more than 8 KiB", shadowtopic.Update, `{"state":{"reported":{"big":"` + strings.Repeat("x", 8192) + `"}},"clientToken":"c3"}`,
			`{"code":413,"message":"The payload exceeds the maximum size allowed","clientToken":"c3"}`},
		{"too deep", shadowtopic.Update, `{"state":{"reported":{"1":{"2":{"3":{"4":{"5":{"6":{"7":1}}}}}}}}}`,
			`{"code":400,"message":"JSON contains too many levels of nesting; maximum is 6"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			request(t, device, sh, tt.op, tt.payload)
			require.JSONEq(t, tt.want, w.expect(sh.Response(tt.op, shadowtopic.Rejected)))
		})
	}
	request(t, device, sh, shadowtopic.Get, `{"clientToken":"g"}`)
	got := w.expect(sh.Response(shadowtopic.Get, shadowtopic.Accepted))
	require.EqualValues(t, 1, field(t, got, "version"), "nothing changed")

	missing := shadowtopic.Shadow{Thing: "wire-missing"}
	w2 := watch(t, device, missing)
	request(t, device, missing, shadowtopic.Get, `{"clientToken":"g2"}`)
	require.JSONEq(t, `{"code":404,"message":"No shadow exists with name: 'wire-missing'","clientToken":"g2"}`,
		w2.expect(missing.Response(shadowtopic.Get, shadowtopic.Rejected)))
	request(t, device, missing, shadowtopic.Delete, ``)
	require.JSONEq(t, `{"code":404,"message":"No shadow exists with name: 'wire-missing'"}`,
		w2.expect(missing.Response(shadowtopic.Delete, shadowtopic.Rejected)))

	codes := map[int]int{}
	for _, e := range append(shadowEvents(b, sh.Thing), shadowEvents(b, missing.Thing)...) {
		codes[e.HTTPStatus]++
		if e.HTTPStatus != 200 {
			require.NotEmpty(t, e.Cause, "a rejection records AWS's message")
		}
	}
	require.Equal(t, map[int]int{200: 2, 400: 4, 404: 2, 409: 1, 413: 1}, codes)
}

// A delete answers with the deleted version; get and delete then find no
// shadow; the next update goes on from the deleted version.
func TestShadowDeleteKeepsTheVersionOnTheWire(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	device := connected(t, b, "deleter")
	sh := shadowtopic.Shadow{Thing: "wire-delete"}
	w := watch(t, device, sh)
	for range 3 {
		request(t, device, sh, shadowtopic.Update, `{"state":{"reported":{"a":1}}}`)
		w.expect(sh.Response(shadowtopic.Update, shadowtopic.Accepted))
		w.expect(sh.Response(shadowtopic.Update, shadowtopic.Documents))
	}
	request(t, device, sh, shadowtopic.Delete, `{"clientToken":"d"}`)
	deleted := w.expect(sh.Response(shadowtopic.Delete, shadowtopic.Accepted))
	require.EqualValues(t, 3, field(t, deleted, "version"))
	require.Equal(t, "d", field(t, deleted, "clientToken"))
	require.NotNil(t, field(t, deleted, "timestamp"))

	request(t, device, sh, shadowtopic.Get, ``)
	require.EqualValues(t, 404, field(t, w.expect(sh.Response(shadowtopic.Get, shadowtopic.Rejected)), "code"))
	request(t, device, sh, shadowtopic.Update, `{"state":{"reported":{"b":1}}}`)
	require.EqualValues(t, 4, field(t, w.expect(sh.Response(shadowtopic.Update, shadowtopic.Accepted)), "version"))
}

// A named shadow has its own topics and document, beside the thing's
// classic shadow.
func TestNamedShadowOnTheWire(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	device := connected(t, b, "namer")
	classic, named := shadowtopic.Shadow{Thing: "wire-named"}, shadowtopic.Shadow{Thing: "wire-named", Name: "config"}
	wc, wn := watch(t, device, classic), watch(t, device, named)
	request(t, device, named, shadowtopic.Update, `{"state":{"desired":{"mode":"eco"}},"clientToken":"n"}`)
	require.Equal(t, "$aws/things/wire-named/shadow/name/config/update/accepted", named.Response(shadowtopic.Update, shadowtopic.Accepted))
	require.EqualValues(t, 1, field(t, wn.expect(named.Response(shadowtopic.Update, shadowtopic.Accepted)), "version"))
	require.Equal(t, map[string]any{"mode": "eco"}, field(t, wn.expect(named.Response(shadowtopic.Update, shadowtopic.Delta)), "state"))
	wn.expect(named.Response(shadowtopic.Update, shadowtopic.Documents))

	request(t, device, classic, shadowtopic.Get, ``)
	require.JSONEq(t, `{"code":404,"message":"No shadow exists with name: 'wire-named'"}`, wc.expect(classic.Response(shadowtopic.Get, shadowtopic.Rejected)))
	request(t, device, named, shadowtopic.Delete, ``)
	wn.expect(named.Response(shadowtopic.Delete, shadowtopic.Accepted))
	request(t, device, named, shadowtopic.Get, ``)
	require.JSONEq(t, `{"code":404,"message":"No shadow exists with name: 'wire-named~config'"}`, wn.expect(named.Response(shadowtopic.Get, shadowtopic.Rejected)))
	ev := shadowEvents(b, "wire-named")
	require.Equal(t, "config", ev[0].ShadowName)
	require.Empty(t, ev[1].ShadowName)
}

// Answers are ordinary publishes: every subscriber of a response topic
// gets them, the requester only if it subscribed; the request itself fans
// out to subscribers of the request topic.
func TestShadowAnswersReachEverySubscriber(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	sh := shadowtopic.Shadow{Thing: "wire-fanout"}
	device := connected(t, b, "quiet-device") // subscribes to nothing
	w1, w2 := watch(t, connected(t, b, "app-1"), sh, sh.Request(shadowtopic.Update)), watch(t, connected(t, b, "app-2"), sh)
	inbox, err := b.Subscribe(sh.Response(shadowtopic.Update, shadowtopic.Accepted))
	require.NoError(t, err)
	defer inbox.Close()

	request(t, device, sh, shadowtopic.Update, `{"state":{"reported":{"a":1}}}`)
	require.JSONEq(t, `{"state":{"reported":{"a":1}}}`, w1.expect(sh.Request(shadowtopic.Update)), "the request topic is an ordinary topic too")
	a1 := w1.expect(sh.Response(shadowtopic.Update, shadowtopic.Accepted))
	require.JSONEq(t, a1, w2.expect(sh.Response(shadowtopic.Update, shadowtopic.Accepted)))
	m, err := inbox.Next(testenv.Context(t))
	require.NoError(t, err)
	require.JSONEq(t, a1, string(m.Payload))
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDeliver, ClientID: "quiet-device"}))
	require.Equal(t, 2, b.Events.Count(broker.Match{Kind: broker.KindDeliver, Topic: sh.Response(shadowtopic.Update, shadowtopic.Accepted)}))
}

// An application's view, through the data plane: a desired state set by
// the test reaches the device as a delta, the device's report is read
// back, and a rejected update is returned, not published.
func TestShadowDataPlane(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	sh := shadowtopic.Shadow{Thing: "plane"}
	device := connected(t, b, "plane-device")
	w := watch(t, device, sh)

	_, err := b.Shadow("plane", "")
	var se *broker.ShadowError
	require.ErrorAs(t, err, &se)
	require.Equal(t, 404, se.Code)
	require.EqualError(t, err, "broker: get shadow plane: 404 No shadow exists with name: 'plane'")

	accepted, err := b.UpdateShadow(ctx, "plane", "", []byte(`{"state":{"desired":{"on":true}}}`))
	require.NoError(t, err)
	require.JSONEq(t, string(accepted), w.expect(sh.Response(shadowtopic.Update, shadowtopic.Accepted)))
	require.Equal(t, map[string]any{"on": true}, field(t, w.expect(sh.Response(shadowtopic.Update, shadowtopic.Delta)), "state"))
	w.expect(sh.Response(shadowtopic.Update, shadowtopic.Documents))

	request(t, device, sh, shadowtopic.Update, `{"state":{"reported":{"on":true}}}`)
	w.expect(sh.Response(shadowtopic.Update, shadowtopic.Accepted))
	w.expect(sh.Response(shadowtopic.Update, shadowtopic.Documents))
	doc, err := b.Shadow("plane", "")
	require.NoError(t, err)
	require.Equal(t, map[string]any{"desired": map[string]any{"on": true}, "reported": map[string]any{"on": true}}, field(t, string(doc), "state"))

	_, err = b.UpdateShadow(ctx, "plane", "", []byte(`{"state":{"desired":{"on":false}},"version":1}`))
	require.ErrorAs(t, err, &se)
	require.Equal(t, 409, se.Code)
	deleted, err := b.DeleteShadow(ctx, "plane", "")
	require.NoError(t, err)
	require.JSONEq(t, string(deleted), w.expect(sh.Response(shadowtopic.Delete, shadowtopic.Accepted)), "the 409 published nothing; the delete came next")

	ev := shadowEvents(b, "plane")
	require.Len(t, ev, 6)
	require.Equal(t, "data plane", ev[0].Detail)
	require.Empty(t, ev[0].ClientID)
	require.Equal(t, []int{404, 200, 200, 200, 409, 200}, []int{ev[0].HTTPStatus, ev[1].HTTPStatus, ev[2].HTTPStatus, ev[3].HTTPStatus, ev[4].HTTPStatus, ev[5].HTTPStatus})
}

// WithoutShadow, shadow topics are ordinary topics: a request is delivered
// to subscribers and nothing answers it.
func TestWithoutShadow(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithoutShadow())
	sh := shadowtopic.Shadow{Thing: "off"}
	device := connected(t, b, "off-device")
	w := watch(t, device, sh, "marker")
	request(t, device, sh, shadowtopic.Update, `{"state":{"reported":{"a":1}}}`)
	require.NoError(t, testenv.WaitToken(device.Publish("marker", 1, false, "after")))
	w.expect("marker")
	require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindShadow}))
	_, err := b.Shadow("off", "")
	require.ErrorIs(t, err, broker.ErrShadowOff)
	_, err = b.UpdateShadow(testenv.Context(t), "off", "", []byte(`{"state":{}}`))
	require.ErrorIs(t, err, broker.ErrShadowOff)
}

// A request the broker acknowledges without delivering (AckWithoutDelivery)
// reaches no one, the shadow service included.
func TestShadowIgnoresARequestAFaultSwallowed(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	sh := shadowtopic.Shadow{Thing: "swallowed"}
	device := connected(t, b, "swallow-device")
	w := watch(t, device, sh)
	require.NoError(t, b.SetFault(broker.AckWithoutDelivery, true))
	request(t, device, sh, shadowtopic.Update, `{"state":{"reported":{"a":1}},"clientToken":"lost"}`)
	require.NoError(t, b.SetFault(broker.AckWithoutDelivery, false))
	request(t, device, sh, shadowtopic.Update, `{"state":{"reported":{"a":2}},"clientToken":"kept"}`)
	accepted := w.expect(sh.Response(shadowtopic.Update, shadowtopic.Accepted))
	require.Equal(t, "kept", field(t, accepted, "clientToken"))
	require.EqualValues(t, 1, field(t, accepted, "version"))
	require.Len(t, shadowEvents(b, sh.Thing), 1)
}

// Shadows belong to the service, not to the broker's sessions: they
// survive Restart.
func TestShadowsSurviveRestart(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	_, err := b.UpdateShadow(ctx, "durable", "", []byte(`{"state":{"reported":{"a":1}}}`))
	require.NoError(t, err)
	require.NoError(t, b.Restart())
	device := connected(t, b, "after-restart")
	sh := shadowtopic.Shadow{Thing: "durable"}
	w := watch(t, device, sh)
	request(t, device, sh, shadowtopic.Get, ``)
	require.EqualValues(t, 1, field(t, w.expect(sh.Response(shadowtopic.Get, shadowtopic.Accepted)), "version"))
}

// pahoOnMemory connects a paho client to b's plain listener on the
// in-memory network (inside a synctest bubble).
func pahoOnMemory(t *testing.T, b *broker.Broker, id string) paho.Client {
	t.Helper()
	l := b.TCP()
	opts := paho.NewClientOptions().AddBroker("tcp://" + l.Addr).SetClientID(id).SetProtocolVersion(4).SetAutoReconnect(false).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			return l.Proxy.DialContext(context.Background(), "tcp", l.Addr)
		})
	pc := paho.NewClient(opts)
	require.NoError(t, testenv.WaitToken(pc.Connect()))
	t.Cleanup(func() { pc.Disconnect(0) })
	return pc
}

// With a service latency (ResponseDelay), each answer comes exactly that
// long after its request, and a connection with 10 requests in flight gets
// 429 for the next ones (also answered after the latency) until one is
// answered. Exact, in virtual time.
func TestShadowInFlightLimitAndResponseDelay(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const delay = time.Second
		b := broker.NewTLS(t, broker.WithPlainTCP(), broker.WithMemoryNetwork(), broker.WithShadow(broker.ShadowOptions{ResponseDelay: delay}))
		ctx := testenv.Context(t)
		sh := shadowtopic.Shadow{Thing: "busy"}
		device := pahoOnMemory(t, b, "busy-device")
		w := watch(t, device, sh)
		mark := b.Events.Seq()
		start := time.Now()
		for i := range 12 {
			require.NoError(t, testenv.WaitToken(device.Publish(sh.Request(shadowtopic.Get), 0, false, fmt.Sprintf(`{"clientToken":"r%d"}`, i))))
		}
		synctest.Wait()
		ev := b.Events.Events(broker.Match{Kind: broker.KindShadow, After: mark})
		require.Len(t, ev, 12)
		var codes []int
		for _, e := range ev {
			codes = append(codes, e.HTTPStatus)
			require.Equal(t, start, e.At, "all 12 in the same instant")
		}
		require.Equal(t, []int{404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 429, 429}, codes, "10 in flight, then 429")
		require.Zero(t, len(w.msgs), "nothing answered before the delay")

		for i := range 12 {
			topic, payload := w.next()
			require.Equal(t, fmt.Sprintf("r%d", i), field(t, payload, "clientToken"), "in order")
			if i < 10 {
				require.Equal(t, sh.Response(shadowtopic.Get, shadowtopic.Rejected), topic)
				require.EqualValues(t, 404, field(t, payload, "code"))
			} else {
				require.JSONEq(t, fmt.Sprintf(`{"code":429,"message":"Too many in-flight requests on this connection; the limit is 10","clientToken":"r%d"}`, i), payload)
			}
		}
		deliveries, err := b.Events.WaitForN(ctx, 12, broker.Match{Kind: broker.KindDeliver, ClientID: "busy-device", After: mark})
		require.NoError(t, err)
		for _, d := range deliveries {
			require.Equal(t, delay, d.At.Sub(start), "each answer exactly ResponseDelay after its request")
		}

		// The first ten are answered: the connection may have ten in flight again.
		require.NoError(t, testenv.WaitToken(device.Publish(sh.Request(shadowtopic.Get), 0, false, `{"clientToken":"later"}`)))
		_, payload := w.next()
		require.EqualValues(t, 404, field(t, payload, "code"))
		require.Equal(t, "later", field(t, payload, "clientToken"))
	})
}

// The data plane's UpdateShadow returns once its notifications are out,
// which with a ResponseDelay is that long later; a context that ends first
// leaves the update standing and says so.
func TestUpdateShadowWaitsForItsNotifications(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := broker.NewTLS(t, broker.WithMemoryNetwork(), broker.WithShadow(broker.ShadowOptions{ResponseDelay: 2 * time.Second}))
		start := time.Now()
		_, err := b.UpdateShadow(testenv.Context(t), "slow", "", []byte(`{"state":{"desired":{"a":1}}}`))
		require.NoError(t, err)
		require.Equal(t, 2*time.Second, time.Since(start))

		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		doc, err := b.UpdateShadow(short, "slow", "", []byte(`{"state":{"desired":{"a":2}}}`))
		require.ErrorIs(t, err, broker.ErrPublishBlocked)
		require.True(t, errors.Is(err, context.DeadlineExceeded))
		require.EqualValues(t, 2, field(t, string(doc), "version"), "accepted all the same")
		got, err := b.Shadow("slow", "")
		require.NoError(t, err)
		require.EqualValues(t, 2, field(t, string(got), "version"))
	})
}

// DeltaOnReportedUpdates: a reported-only update that leaves desired and
// reported different publishes the delta too.
func TestShadowDeltaOnReportedUpdates(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithShadow(broker.ShadowOptions{DeltaOnReportedUpdates: true}))
	ctx := testenv.Context(t)
	sh := shadowtopic.Shadow{Thing: "reporting"}
	device := connected(t, b, "reporter")
	_, err := b.UpdateShadow(ctx, sh.Thing, "", []byte(`{"state":{"desired":{"a":1,"b":2}}}`))
	require.NoError(t, err)
	w := watch(t, device, sh)
	request(t, device, sh, shadowtopic.Update, `{"state":{"reported":{"a":1}}}`)
	w.expect(sh.Response(shadowtopic.Update, shadowtopic.Accepted))
	require.Equal(t, map[string]any{"b": json.Number("2")}, numberState(t, w.expect(sh.Response(shadowtopic.Update, shadowtopic.Delta))))
}

func numberState(t *testing.T, doc string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m))
	return m["state"]
}
