package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
)

func TestEventJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 10, 0, 1, 500_000_000, time.FixedZone("CET", 3600))
	cases := []struct {
		name string
		e    broker.Event
		want string
	}{
		{"connect with zero keepalive and clean session false", broker.Event{
			Seq: 1, At: at, Kind: broker.KindConnect, ClientID: "c", Listener: "mtls", Remote: "127.0.0.1:5000",
			Username: "?SDK=JavaScript", ServerName: "localhost", ALPN: "x-amzn-mqtt-ca", PeerCN: "thing",
		}, `{"seq":1,"at":"2026-12-01T09:00:01.500000000Z","kind":"CONNECT","client_id":"c","remote":"127.0.0.1:5000","listener":"mtls",
			"keepalive":0,"clean_session":false,"username":"?SDK=JavaScript","sni":"localhost","alpn":"x-amzn-mqtt-ca","cn":"thing"}`},
		{"connack accepted", broker.Event{Seq: 2, At: at, Kind: broker.KindConnack, ClientID: "c"},
			`{"seq":2,"at":"2026-12-01T09:00:01.500000000Z","kind":"CONNACK","client_id":"c","return_code":0,"session_present":false}`},
		{"publish at QoS 0 with a text payload", broker.Event{Seq: 3, At: at, Kind: broker.KindPublish, ClientID: "c", Topic: "a/b", Payload: []byte(`{"é": 1}`), Retain: true},
			`{"seq":3,"at":"2026-12-01T09:00:01.500000000Z","kind":"PUBLISH","client_id":"c","topic":"a/b","payload":"{\"é\": 1}","qos":0,"retain":true}`},
		{"deliver with a binary payload", broker.Event{Seq: 4, At: at, Kind: broker.KindDeliver, ClientID: "c", Topic: "a/b", Payload: []byte{0, 0xff}, QoS: 1, PacketID: 7, Dup: true},
			`{"seq":4,"at":"2026-12-01T09:00:01.500000000Z","kind":"DELIVER","client_id":"c","topic":"a/b","payload_base64":"AP8=","qos":1,"dup":true,"packet_id":7}`},
		{"empty payload", broker.Event{Seq: 5, At: at, Kind: broker.KindPublish, Topic: "t"},
			`{"seq":5,"at":"2026-12-01T09:00:01.500000000Z","kind":"PUBLISH","topic":"t","payload":"","qos":0}`},
		{"switch off", broker.Event{Seq: 6, At: at, Kind: broker.KindFault, Fault: broker.FaultRefuseSubscription, Filter: "x/#", Detail: "off"},
			`{"seq":6,"at":"2026-12-01T09:00:01.500000000Z","kind":"FAULT","fault":"refuse-subscription","on":false,"filter":"x/#","detail":"off"}`},
		{"reject-connect with its code", broker.Event{Seq: 7, At: at, Kind: broker.KindFault, Fault: broker.FaultRejectConnect, On: true, ReturnCode: 5},
			`{"seq":7,"at":"2026-12-01T09:00:01.500000000Z","kind":"FAULT","return_code":5,"fault":"reject-connect","on":true}`},
		{"an action has no on", broker.Event{Seq: 8, At: at, Kind: broker.KindFault, Fault: broker.FaultCut, ClientID: "c", Detail: "cut client link with RST"},
			`{"seq":8,"at":"2026-12-01T09:00:01.500000000Z","kind":"FAULT","client_id":"c","fault":"cut","detail":"cut client link with RST"}`},
		{"suback and subscribe", broker.Event{Seq: 9, At: at, Kind: broker.KindSuback, ReturnCodes: []byte{1, 0x80}},
			`{"seq":9,"at":"2026-12-01T09:00:01.500000000Z","kind":"SUBACK","return_codes":[1,128]}`},
		{"subscribe", broker.Event{Seq: 10, At: at, Kind: broker.KindSubscribe, Filters: []broker.TopicFilter{{Filter: "a/#", QoS: 0}}},
			`{"seq":10,"at":"2026-12-01T09:00:01.500000000Z","kind":"SUBSCRIBE","filters":[{"filter":"a/#","qos":0}]}`},
		{"disconnect with its cause", broker.Event{Seq: 11, At: at, Kind: broker.KindDisconnect, ClientID: "c", Cause: "EOF"},
			`{"seq":11,"at":"2026-12-01T09:00:01.500000000Z","kind":"DISCONNECT","client_id":"c","cause":"EOF"}`},
		{"disconnect with AWS's reason", broker.Event{Seq: 13, At: at, Kind: broker.KindDisconnect, ClientID: "c", Cause: "a CONNECT with this client id came 10ms after the last one", Reason: "THROTTLED"},
			`{"seq":13,"at":"2026-12-01T09:00:01.500000000Z","kind":"DISCONNECT","client_id":"c","cause":"a CONNECT with this client id came 10ms after the last one","reason":"THROTTLED"}`},
		{"shadow request rejected", broker.Event{Seq: 14, At: at, Kind: broker.KindShadow, ClientID: "c", Topic: "$aws/things/t/shadow/name/s/get",
			Thing: "t", ShadowName: "s", ShadowOp: "get", HTTPStatus: 404, Cause: "No shadow exists with name: 't~s'", Payload: []byte(`{"code":404}`)},
			`{"seq":14,"at":"2026-12-01T09:00:01.500000000Z","kind":"SHADOW","client_id":"c","topic":"$aws/things/t/shadow/name/s/get","payload":"{\"code\":404}",
			"http_status":404,"thing":"t","shadow_name":"s","shadow_op":"get","cause":"No shadow exists with name: 't~s'"}`},
		{"upgrade refused", broker.Event{Seq: 12, At: at, Kind: broker.KindUpgrade, HTTPStatus: 403, Cause: "signature does not match"},
			`{"seq":12,"at":"2026-12-01T09:00:01.500000000Z","kind":"UPGRADE","http_status":403,"cause":"signature does not match"}`},
	}
	for _, c := range cases {
		out, err := json.Marshal(toJSON(c.e))
		require.NoError(t, err)
		require.JSONEq(t, c.want, string(out), c.name)
	}
}

func TestEventTimeKeepsNanoseconds(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 10, 0, 1, 123_456_789, time.UTC)
	j := toJSON(broker.Event{At: at, Kind: broker.KindPingreq})
	require.Equal(t, "2026-12-01T10:00:01.123456789Z", j.At)
	back, err := time.Parse(time.RFC3339Nano, j.At)
	require.NoError(t, err)
	require.True(t, back.Equal(at))
	require.Equal(t, "2026-12-01T10:00:01.100000000Z", formatTime(at.Truncate(100*time.Millisecond)), "trailing zeros kept: times compare as strings")
}
