package integration_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client/shadow"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// shadowScenario runs body against the embedded broker (in virtual time)
// or AWS IoT Core, and skips it against other brokers. On AWS the
// endpoint's policy must allow the client ids and the shadow topics of the
// things named after -clientId ($aws/things/<clientId>-shadow-…/shadow/…).
func shadowScenario(t *testing.T, body func(t *testing.T, e *env)) {
	t.Helper()
	awsOnly(t, "the Device Shadow is an AWS IoT Core service (mosquitto and other brokers have none)")
	scenario(t, body)
}

// thing names a scenario's thing, unique per run.
func (e *env) thing(name string) string { return e.clientID("shadow-" + name) }

// shadowHandler connects a client and returns its handler for the thing's
// shadow (named, if name is not "").
func (e *env) shadowHandler(clientName, thing, name string) *shadow.Handler {
	e.t.Helper()
	h, err := shadow.NewHandler(e.connect(e.config(clientName)), shadow.Config{ThingName: thing, ShadowName: name, PersistentSubscribe: true})
	require.NoError(e.t, err)
	return h
}

func stateOf(t *testing.T, doc []byte) map[string]any {
	t.Helper()
	var d struct{ State map[string]any }
	require.NoError(t, json.Unmarshal(doc, &d), "%s", doc)
	return d.State
}

// The device reports; an application sets the desired state; the device
// gets the delta and reports the new state; the application reads it back.
func TestShadowDeviceAndApplication(t *testing.T) {
	t.Parallel()
	shadowScenario(t, func(t *testing.T, e *env) {
		ctx := testenv.Context(t)
		thing := e.thing("lamp")
		device := e.shadowHandler("lamp-device", thing, "")
		app := e.shadowHandler("lamp-app", thing, "")
		if _, err := app.Delete(ctx); err != nil {
			require.ErrorIs(t, err, shadow.ErrRejected, "a fresh thing has no shadow, or an old one")
		}
		defer app.Delete(ctx)

		r, err := device.Update(ctx, []byte(`{"state":{"reported":{"on":false}}}`))
		require.NoError(t, err)
		first := r.Version
		reported := make(chan error, 1)
		require.NoError(t, device.RegisterDeltaCallback(ctx, func(d shadow.Response) {
			delta, _ := json.Marshal(stateOf(t, d.Payload))
			_, err := device.Update(ctx, fmt.Appendf(nil, `{"state":{"reported":%s}}`, delta))
			reported <- err
		}))

		r, err = app.Update(ctx, []byte(`{"state":{"desired":{"on":true}}}`))
		require.NoError(t, err)
		require.Equal(t, first+1, r.Version)
		require.NoError(t, testenv.Receive(t, ctx, reported, "the device's report"))

		r, err = app.Get(ctx)
		require.NoError(t, err)
		state := stateOf(t, r.Payload)
		require.Equal(t, map[string]any{"on": true}, state["reported"])
		require.Nil(t, state["delta"], "in sync")
		require.Equal(t, first+2, r.Version)
		require.Equal(t, first+2, device.Version(), "the device tracked the versions")
	})
}

// An update made while the link is down waits in the offline queue and is
// answered after the reconnect.
func TestShadowUpdateQueuedOffline(t *testing.T) {
	t.Parallel()
	shadowScenario(t, func(t *testing.T, e *env) {
		ctx := testenv.Context(t)
		thing := e.thing("offline")
		cfg := e.config("offline-device")
		c := e.connect(cfg)
		h, err := shadow.NewHandler(c, shadow.Config{ThingName: thing, PersistentSubscribe: true})
		require.NoError(t, err)
		_, err = h.Update(ctx, []byte(`{"state":{"reported":{"battery":90}}}`))
		require.NoError(t, err)
		defer h.Delete(ctx)

		e.goOffline(c)
		answered := make(chan shadow.Response, 1)
		_, err = h.UpdateAsync([]byte(`{"state":{"reported":{"battery":80}}}`), func(r shadow.Response) { answered <- r }, testenv.Timeout)
		require.NoError(t, err)
		require.Equal(t, 1, c.QueuedRequests(), "the update waits (its subscriptions are made)")
		require.NoError(t, e.Proxy.SetFault(broker.HangUp, false))
		r := testenv.Receive(t, ctx, answered, "the queued update's answer")
		require.Equal(t, shadow.Accepted, r.Status)
		require.EqualValues(t, 80, stateOf(t, r.Payload)["reported"].(map[string]any)["battery"])
	})
}

// A named shadow: no shadow yet (404), optimistic locking (409), delete.
func TestShadowRejections(t *testing.T) {
	t.Parallel()
	shadowScenario(t, func(t *testing.T, e *env) {
		ctx := testenv.Context(t)
		h := e.shadowHandler("named-device", e.thing("named"), "config")
		var rejected *shadow.RejectedError
		_, err := h.Get(ctx)
		require.ErrorAs(t, err, &rejected)
		require.Equal(t, 404, rejected.Code)

		r, err := h.Update(ctx, []byte(`{"state":{"desired":{"mode":"eco"}}}`))
		require.NoError(t, err)
		_, err = h.Update(ctx, fmt.Appendf(nil, `{"state":{"desired":{"mode":"boost"}},"version":%d}`, r.Version+5))
		require.ErrorAs(t, err, &rejected)
		require.Equal(t, 409, rejected.Code)
		_, err = h.Update(ctx, fmt.Appendf(nil, `{"state":{"desired":{"mode":"boost"}},"version":%d}`, r.Version))
		require.NoError(t, err, "the matching version")

		_, err = h.Delete(ctx)
		require.NoError(t, err)
		_, err = h.Get(ctx)
		require.ErrorAs(t, err, &rejected)
		require.Equal(t, 404, rejected.Code)
	})
}

// The harness's data plane stands in for an application: the test sets the
// desired state and watches the device act on it.
func TestShadowDataPlaneDrivesTheDevice(t *testing.T) {
	t.Parallel()
	shadowScenario(t, func(t *testing.T, e *env) {
		e.embedded("set the shadow through its data plane")
		ctx := testenv.Context(t)
		thing := e.thing("plane")
		device := e.shadowHandler("plane-device", thing, "")
		acted := make(chan shadow.Response, 1)
		require.NoError(t, device.RegisterDeltaCallback(ctx, func(d shadow.Response) {
			_, _ = device.Update(ctx, []byte(`{"state":{"reported":{"fan":"high"}}}`))
			acted <- d
		}))
		_, err := e.Broker.UpdateShadow(ctx, thing, "", []byte(`{"state":{"desired":{"fan":"high"}}}`))
		require.NoError(t, err)
		d := testenv.Receive(t, ctx, acted, "the delta")
		require.Equal(t, map[string]any{"fan": "high"}, stateOf(t, d.Payload))
		_, err = e.Events.WaitFor(ctx, broker.Match{Kind: broker.KindShadow, ClientID: e.clientID("plane-device"),
			Where: func(ev broker.Event) bool { return ev.ShadowOp == "update" && ev.HTTPStatus == 200 }})
		require.NoError(t, err)
		doc, err := e.Broker.Shadow(thing, "")
		require.NoError(t, err)
		require.Equal(t, map[string]any{"fan": "high"}, stateOf(t, doc)["reported"])
	})
}
