package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// reconnectAfterCut cuts a connected device and returns the CONNACK of
// its accepted reconnect, and whether AWS's connect throttle refused an
// attempt before it. The device's back-off (100 ms) is quicker than AWS
// admits (one CONNECT per second per client id).
func reconnectAfterCut(t *testing.T, ib *iotbroker, id string) (cut, connack eventJSON, throttled bool) {
	t.Helper()
	first := ib.waitEvent(t, 0, "kind=CONNACK&client="+id, nil)
	ib.mustDo(t, "POST", "/clients/"+id+"/cut", "", nil)
	cut = ib.waitEvent(t, first.Seq, "kind=FAULT&fault=cut", nil)
	connack = ib.waitEvent(t, cut.Seq, "kind=CONNACK&client="+id, nil)
	var refusals struct {
		Events []eventJSON `json:"events"`
	}
	ib.mustDo(t, "GET", fmt.Sprintf("/events?kind=DISCONNECT&client=%s&after=%d", id, cut.Seq), "", &refusals)
	for _, e := range refusals.Events {
		if e.Seq < connack.Seq && e.Reason == "THROTTLED" {
			throttled = true
			require.Contains(t, e.Cause, "AWS IoT Core allows one per 1s")
		}
	}
	return cut, connack, throttled
}

// The AWS IoT Core profile runs by default: a reconnect sooner than a
// second after the last CONNECT is refused (THROTTLED), as AWS does.
func TestTheAWSProfileIsTheDefault(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t)
	require.Equal(t, "aws", ib.info.Profile)
	require.True(t, ib.info.Shadow)
	ib.device(t, "throttled", ib.info.Kit.Things[0])
	first := ib.waitEvent(t, 0, "kind=CONNACK&client=throttled", nil)

	_, connack, throttled := reconnectAfterCut(t, ib, "throttled")
	require.True(t, throttled, "the quick reconnect was refused")
	require.GreaterOrEqual(t, at(t, connack).Sub(at(t, first)), 900*time.Millisecond, "accepted CONNECTs are a second apart")
}

// --connect-interval 0 (or --set ConnectInterval=0s, as any profile
// field can be set) keeps every other AWS behaviour but admits every
// reconnect; --profile mqtt is a plain MQTT broker.
func TestProfileFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{quickReconnects, {"--set", "ConnectInterval=0s"}, {"--profile", "mqtt"}} {
		ib := startInProcess(t, args...)
		ib.device(t, "quick", ib.info.Kit.Things[0])
		cut, connack, throttled := reconnectAfterCut(t, ib, "quick")
		require.False(t, throttled, "%v", args)
		require.Less(t, at(t, connack).Sub(at(t, cut)), 900*time.Millisecond, "%v: back after the device's 100 ms back-off", args)
	}
	require.Equal(t, "mqtt", startInProcess(t, "--profile", "mqtt").info.Profile)
}

// The shadow endpoints read, update and delete a shadow as AWS's data
// plane does, and devices get the service's notifications.
func TestShadowThroughTheAPI(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t)
	thing := ib.info.Kit.Things[0].Name
	path := "/things/" + thing + "/shadow"
	device := ib.device(t, "shadow-device", ib.info.Kit.Things[0])
	deltas := make(chan client.Message, 1)
	_, err := device.Subscribe(testenv.Context(t), "$aws/things/"+thing+"/shadow/update/delta", client.QoS1, func(m client.Message) { deltas <- m })
	require.NoError(t, err)

	var failed map[string]string
	require.Equal(t, http.StatusNotFound, ib.do(t, "GET", path, "", &failed))
	require.Contains(t, failed["error"], "404 No shadow exists with name: '"+thing+"'")

	type document struct {
		State struct {
			Desired map[string]any `json:"desired"`
		} `json:"state"`
		Version int `json:"version"`
	}
	var updated document
	ib.mustDo(t, "POST", path, `{"state":{"desired":{"color":"red"}}}`, &updated)
	require.Equal(t, 1, updated.Version)
	m := testenv.Receive(t, testenv.Context(t), deltas, "the delta")
	var delta struct {
		State   map[string]any `json:"state"` // what desired has and reported lacks
		Version int            `json:"version"`
	}
	require.NoError(t, json.Unmarshal(m.Payload, &delta))
	require.Equal(t, map[string]any{"color": "red"}, delta.State)
	require.Equal(t, 1, delta.Version)

	// A bad document is refused with the service's code and changes nothing.
	require.Equal(t, http.StatusBadRequest, ib.do(t, "POST", path, `{"state":`, &failed))
	require.Contains(t, failed["error"], "400")
	require.Equal(t, http.StatusBadRequest, ib.do(t, "GET", path+"?shadow=x", "", &failed))
	require.Contains(t, failed["error"], `unknown parameter "shadow": GET `+path+" takes name")
	var got document
	ib.mustDo(t, "GET", path, "", &got)
	require.Equal(t, 1, got.Version)
	require.Equal(t, map[string]any{"color": "red"}, got.State.Desired)
	ev := ib.waitEvent(t, 0, "kind=SHADOW", func(e eventJSON) bool { return e.ShadowOp == "update" })
	require.Equal(t, thing, ev.Thing)
	require.Equal(t, 200, ev.HTTPStatus)

	// A named shadow is another shadow.
	require.Equal(t, http.StatusNotFound, ib.do(t, "GET", path+"?name=config", "", &failed))
	ib.mustDo(t, "POST", path+"?name=config", `{"state":{"reported":{"fw":"1.0"}}}`, nil)
	ib.mustDo(t, "GET", path+"?name=config", "", &got)
	require.Equal(t, 1, got.Version)

	ib.mustDo(t, "DELETE", path, "", nil)
	require.Equal(t, http.StatusNotFound, ib.do(t, "GET", path, "", &failed))
	ib.mustDo(t, "GET", path+"?name=config", "", nil)
}

func TestShadowOff(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t, "--shadow=false")
	require.False(t, ib.info.Shadow)
	var failed map[string]string
	require.Equal(t, http.StatusConflict, ib.do(t, "GET", "/things/basicPubSub/shadow", "", &failed))
	require.Contains(t, failed["error"], "the Device Shadow service is off (WithoutShadow): iotbroker runs with --shadow=false")
}
