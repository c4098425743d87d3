package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/certs"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

func TestHealthInfoAndClients(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t)
	var health map[string]any
	ib.mustDo(t, "GET", "/health", "", &health)
	require.Equal(t, "ok", health["status"])

	var info readyInfo
	ib.mustDo(t, "GET", "/info", "", &info)
	require.Equal(t, ib.info, info, "GET /info says what the ready line said")

	th := info.Kit.Things[0]
	require.Equal(t, defaultThing, th.Name)
	ib.device(t, "health-device", th)
	var clients []clientJSON
	ib.mustDo(t, "GET", "/clients", "", &clients)
	require.Len(t, clients, 1)
	c := clients[0]
	require.Equal(t, "health-device", c.ClientID)
	require.Equal(t, "mtls", c.Listener)
	require.Equal(t, defaultThing, c.PeerCN, "the certificate's common name")
	require.Equal(t, "localhost", c.ServerName)
	require.EqualValues(t, 4, c.ProtocolVersion)
	require.NotZero(t, c.ConnectSeq)
	at, err := time.Parse(time.RFC3339Nano, c.ConnectedAt)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), at, testenv.Timeout)
}

func TestCutAndDisconnectAClient(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t, quickReconnects...)
	th := ib.info.Kit.Things[0]
	device := ib.device(t, "cut-me", th)

	for _, mode := range []string{"fin", "rst"} {
		mark := ib.latest(t)
		ib.mustDo(t, "POST", "/clients/cut-me/cut?mode="+mode, "", nil)
		cut := ib.waitEvent(t, mark, "kind=FAULT&fault=cut", nil)
		require.Equal(t, "cut-me", cut.ClientID)
		require.Contains(t, cut.Detail, strings.ToUpper(mode))
		gone := ib.waitEvent(t, cut.Seq, "kind=DISCONNECT&client=cut-me", nil)
		back := ib.waitEvent(t, gone.Seq, "kind=CONNECT&client=cut-me", nil)
		require.Greater(t, back.Seq, gone.Seq)
	}
	testenv.WaitStatus(t, device, client.StatusStable)

	mark := ib.latest(t)
	ib.mustDo(t, "POST", "/clients/cut-me/disconnect", "", nil)
	ev := ib.waitEvent(t, mark, "kind=DISCONNECT&client=cut-me", nil)
	require.Equal(t, "broker closed the session", ev.Cause)

	var failed map[string]string
	require.Equal(t, http.StatusNotFound, ib.do(t, "POST", "/clients/nobody/cut", "", &failed))
	require.Contains(t, failed["error"], `cut client "nobody": not connected`)
	require.Equal(t, http.StatusNotFound, ib.do(t, "POST", "/clients/nobody/disconnect", "", &failed))
	require.Contains(t, failed["error"], `disconnect client "nobody": not connected`)
}

func TestCutAllAndRestart(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t, quickReconnects...)
	th := ib.info.Kit.Things[0]
	ib.device(t, "one", th)
	ib.device(t, "two", th)

	mark := ib.latest(t)
	var cut struct {
		Cut  int    `json:"cut"`
		Mode string `json:"mode"`
	}
	ib.mustDo(t, "POST", "/cut?mode=rst", "", &cut)
	require.Equal(t, 2, cut.Cut)
	require.Equal(t, "RST", cut.Mode)
	for _, id := range []string{"one", "two"} {
		ib.waitEvent(t, mark, "kind=CONNECT&client="+id, nil)
	}

	mark = ib.latest(t)
	ib.mustDo(t, "POST", "/restart", "", nil)
	restart := ib.waitEvent(t, mark, "kind=FAULT&fault=restart", nil)
	for _, id := range []string{"one", "two"} {
		ib.waitEvent(t, restart.Seq, "kind=CONNACK&client="+id, nil)
	}
}

// Each switch goes on and off through the API, as GET /faults and the
// events show; some are also shown to act.
func TestEverySwitch(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t)
	for _, kind := range switchKinds {
		query := ""
		switch kind {
		case "reject-connect":
			query = "?code=3"
		case "refuse-subscription":
			query = "?filter=" + url.QueryEscape("sdk/test/#")
		}
		mark := ib.latest(t)
		ib.mustDo(t, "PUT", "/faults/"+string(kind)+query, "", nil)
		on := ib.waitEvent(t, mark, "kind=FAULT&fault="+string(kind), nil)
		require.NotNil(t, on.On)
		require.True(t, *on.On, kind)
		var faults []faultJSON
		ib.mustDo(t, "GET", "/faults", "", &faults)
		require.Len(t, faults, 1, kind)
		require.Equal(t, string(kind), faults[0].Kind)
		switch kind {
		case "reject-connect":
			require.EqualValues(t, 3, faults[0].ReturnCode)
		case "refuse-subscription":
			require.Equal(t, "sdk/test/#", faults[0].Filter)
		}

		mark = ib.latest(t)
		if kind == "reject-connect" {
			query = ""
		}
		ib.mustDo(t, "DELETE", "/faults/"+string(kind)+query, "", nil)
		off := ib.waitEvent(t, mark, "kind=FAULT&fault="+string(kind), nil)
		require.False(t, *off.On, kind)
		ib.mustDo(t, "GET", "/faults", "", &faults)
		require.Empty(t, faults, kind)
	}
}

func TestSwitchesAct(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t)
	th := ib.info.Kit.Things[0]
	ep := ib.info.Endpoints["mtls"]

	ib.mustDo(t, "PUT", "/faults/refuse", "", nil)
	_, err := net.DialTimeout("tcp", ep.Addr, testenv.Timeout)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	ib.mustDo(t, "DELETE", "/faults/refuse", "", nil)

	ib.mustDo(t, "PUT", "/faults/reject-connect?code=5", "", nil)
	cfg := client.DefaultConfig("refused")
	cfg.ConfigureEndpoint(ep.Host, ep.Port)
	cfg.ConfigureCredentials(ib.info.Kit.RootCA, th.PrivateKey, th.Cert)
	refused := testenv.NewClient(t, cfg)
	var rc *client.ConnectError
	require.ErrorAs(t, refused.Connect(testenv.Context(t)), &rc)
	require.EqualValues(t, 5, rc.ReturnCode)
	ib.mustDo(t, "DELETE", "/faults/reject-connect", "", nil)

	ib.mustDo(t, "PUT", "/faults/refuse-subscription?filter=no/such", "", nil)
	device := ib.device(t, "subscriber", th)
	_, err = device.Subscribe(testenv.Context(t), "no/such", client.QoS1, nil)
	var se *client.SubscribeError
	require.ErrorAs(t, err, &se)

	// withhold-puback?filter=F withholds only what F matches.
	ib.mustDo(t, "PUT", "/faults/withhold-puback?filter="+url.QueryEscape("sdk/slow/#"), "", nil)
	var faults []faultJSON
	ib.mustDo(t, "GET", "/faults", "", &faults)
	require.Contains(t, faults, faultJSON{Kind: "withhold-puback", Filter: "sdk/slow/#"})
	mark := ib.latest(t)
	_, err = device.PublishAsync("sdk/slow/1", []byte("slow"), client.QoS1, nil)
	require.NoError(t, err)
	_, err = device.Publish(testenv.Context(t), "sdk/fast/1", []byte("fast"), client.QoS1)
	require.NoError(t, err, "another topic is acknowledged")
	// The broker reads a link's packets in order: had sdk/slow/1 been
	// acknowledged, its PUBACK would be recorded before sdk/fast/1's.
	var pubacks struct {
		Events []eventJSON `json:"events"`
	}
	ib.mustDo(t, "GET", fmt.Sprintf("/events?kind=PUBACK&client=subscriber&after=%d", mark), "", &pubacks)
	require.Len(t, pubacks.Events, 1, "only sdk/fast/1 is acknowledged")
	mark = ib.latest(t)
	ib.mustDo(t, "DELETE", "/faults/withhold-puback?filter="+url.QueryEscape("sdk/slow/#"), "", nil)
	off := ib.waitEvent(t, mark, "kind=FAULT&fault=withhold-puback", nil)
	require.False(t, *off.On)
}

func TestPublishFromTheBroker(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t)
	device := ib.device(t, "listener", ib.info.Kit.Things[0])
	got := make(chan client.Message, 2)
	_, err := device.Subscribe(testenv.Context(t), "sdk/test/#", client.QoS1, func(m client.Message) { got <- m })
	require.NoError(t, err)

	mark := ib.latest(t)
	var out map[string]any
	ib.mustDo(t, "POST", "/publish?topic=sdk/test/text&qos=1", `{"message": "héllo"}`, &out)
	require.EqualValues(t, len(`{"message": "héllo"}`), out["bytes"])
	m := testenv.Receive(t, testenv.Context(t), got, "the broker's message")
	require.Equal(t, `{"message": "héllo"}`, string(m.Payload))
	require.Equal(t, "sdk/test/text", m.Topic)
	deliver := ib.waitEvent(t, mark, "kind=DELIVER&client=listener", nil)
	require.Equal(t, `{"message": "héllo"}`, *deliver.Payload)
	require.EqualValues(t, 1, *deliver.QoS)

	binary := "\x00\xff\xfe"
	ib.mustDo(t, "POST", "/publish?topic=sdk/test/binary&qos=0", binary, nil)
	m = testenv.Receive(t, testenv.Context(t), got, "the binary message")
	require.Equal(t, binary, string(m.Payload))
	ev := ib.waitEvent(t, deliver.Seq, "kind=DELIVER&topic=sdk/test/binary", nil)
	require.Nil(t, ev.Payload)
	require.Equal(t, "AP/+", ev.PayloadBase64)
	require.EqualValues(t, 0, *ev.QoS, "QoS 0 is shown, not left out")
}

// Bad requests get a 4xx naming what is wrong, and change nothing: no
// event is recorded, no fault switched, no client lost.
func TestBadRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t)
	ib.device(t, "bystander", ib.info.Kit.Things[0]) // keepalive 600 s: no PINGREQ during the test
	ib.mustDo(t, "PUT", "/faults/withhold-puback", "", nil)
	var before []clientJSON
	ib.mustDo(t, "GET", "/clients", "", &before)
	mark := ib.latest(t)

	big := strings.Repeat("x", maxPayload+1)
	cases := []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"PUT", "/faults/bogus", "", 404, `no fault "bogus" to switch on or off; the switches are refuse, hang-up`},
		{"PUT", "/faults/cut", "", 404, "actions: POST /cut"},
		{"PUT", "/faults/refuse?listener=mtls", "", 400, `unknown parameter "listener": PUT /faults/refuse takes none`},
		{"PUT", "/faults/reject-connect", "", 400, "reject-connect needs ?code=N"},
		{"PUT", "/faults/reject-connect?code=0", "", 400, `got "0"`},
		{"PUT", "/faults/reject-connect?code=six", "", 400, `got "six"`},
		{"PUT", "/faults/refuse-subscription", "", 400, "refuse-subscription needs ?filter=F"},
		{"DELETE", "/faults/refuse-subscription?code=1", "", 400, `unknown parameter "code"`},
		{"POST", "/faults/refuse", "", 405, "this path takes PUT, DELETE"},
		{"GET", "/cut", "", 405, "this path takes POST"},
		{"POST", "/cut?mode=fun", "", 400, `mode "fun": give fin`},
		{"POST", "/clients/bystander/cut?mode=soft", "", 400, `mode "soft"`},
		{"POST", "/clients/bystander/cut?hard=1", "", 400, `unknown parameter "hard": POST /clients/bystander/cut takes mode`},
		{"POST", "/clients/nobody/cut", "", 404, `"nobody": not connected`},
		{"POST", "/restart?now=1", "", 400, `unknown parameter "now"`},
		{"POST", "/publish", "x", 400, "give ?topic=T"},
		{"POST", "/publish?topic=a/%23", "x", 400, "no wildcards"},
		{"POST", "/publish?topic=a&qos=2", "x", 400, `qos "2": give 0 or 1 (AWS IoT Core has no QoS 2)`},
		{"POST", "/publish?topic=a&retain=maybe", "x", 400, `retain "maybe"`},
		{"POST", "/publish?topic=a&qso=1", "x", 400, `unknown parameter "qso": POST /publish takes topic, qos, retain`},
		{"POST", "/publish?topic=a", big, 413, "body larger than 131072 bytes (AWS IoT Core's payload limit)"},
		{"PUT", "/websocket/credentials", "{}", 409, "no WebSocket listener: start iotbroker with --wss"},
		{"GET", "/events?after=x", "", 400, `after "x"`},
		{"GET", "/events?after=999999", "", 400, "beyond the latest event"},
		{"GET", "/events?limit=0", "", 400, "limit \"0\": give a number from 1 to 10000"},
		{"GET", "/events?kind=CONNEKT", "", 400, `no event kind "CONNEKT" (kinds: ACCEPT`},
		{"GET", "/events/stream?format=xml", "", 400, `format "xml": give sse (the default) or ndjson`},
		{"GET", "/events/stream?after=999999", "", 400, "beyond the latest event"},
		{"POST", "/things/bad%20name", "", 400, `thing name "bad name"`},
		{"POST", "/things/" + strings.Repeat("a", 129), "", 400, "1-128 letters"},
		{"GET", "/nothing/here", "", 404, "no endpoint GET /nothing/here; the endpoints are: GET /health"},
	}
	for _, c := range cases {
		var answer map[string]string
		status := ib.do(t, c.method, c.path, c.body, &answer)
		require.Equal(t, c.status, status, "%s %s: %v", c.method, c.path, answer)
		require.Contains(t, answer["error"], c.want, "%s %s", c.method, c.path)
	}

	require.Equal(t, mark, ib.latest(t), "no event recorded")
	var faults []faultJSON
	ib.mustDo(t, "GET", "/faults", "", &faults)
	require.Equal(t, []faultJSON{{Kind: "withhold-puback"}}, faults)
	var after []clientJSON
	ib.mustDo(t, "GET", "/clients", "", &after)
	require.Equal(t, before, after, "the same session, still connected")
	entries, err := os.ReadDir(ib.info.Kit.Dir)
	require.NoError(t, err)
	require.Len(t, entries, 5, "root-CA.crt, root-CA.key and the one thing's three files: no file for a refused name")
}

func TestThingsIssuedOnRequest(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t, "--thing", "first,second")
	var list struct {
		RootCA string  `json:"root_ca"`
		Things []thing `json:"things"`
	}
	ib.mustDo(t, "GET", "/things", "", &list)
	require.Len(t, list.Things, 2)
	require.Equal(t, []string{"first", "second"}, []string{list.Things[0].Name, list.Things[1].Name})

	var issued struct {
		Thing thing `json:"thing"`
	}
	require.Equal(t, http.StatusCreated, ib.do(t, "POST", "/things/sensor-7", "", &issued))
	require.Equal(t, "sensor-7", issued.Thing.Name)
	require.False(t, issued.Thing.Reused)
	device := ib.device(t, "sensor-7", issued.Thing)
	require.Equal(t, client.StatusStable, device.Status())
	ev := ib.waitEvent(t, 0, "kind=CONNECT&client=sensor-7", nil)
	require.Equal(t, "sensor-7", ev.PeerCN)

	require.Equal(t, http.StatusOK, ib.do(t, "POST", "/things/sensor-7", "", &issued), "asked again: the same files")
	require.True(t, issued.Thing.Reused)
	ib.mustDo(t, "GET", "/things", "", &list)
	require.Len(t, list.Things, 3)
}

func TestWebSocketCredentialsThroughTheAPI(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t, "--wss", "127.0.0.1:0", "--ws-access-key-id", "AKIDLOCAL", "--ws-secret-access-key", "local-secret")
	ep := ib.info.Endpoints["wss"]
	cfg := client.DefaultConfig("ws-device")
	cfg.UseWebsocket = true
	cfg.Region = "us-east-1"
	cfg.ConfigureEndpoint(ep.Host, ep.Port)
	cfg.ConfigureCredentials(ib.info.Kit.RootCA, "", "")
	cfg.ConfigureIAMCredentials("AKIDLOCAL", "local-secret", "")
	testenv.Scale(&cfg, 100*time.Millisecond)
	testenv.Connect(t, cfg)

	mark := ib.latest(t)
	ib.mustDo(t, "PUT", "/websocket/credentials", `{}`, nil)
	ib.mustDo(t, "POST", "/cut", "", nil)
	refused := ib.waitEvent(t, mark, "kind=UPGRADE", func(e eventJSON) bool { return e.HTTPStatus == http.StatusForbidden })
	require.Contains(t, refused.Cause, `unknown access key id "AKIDLOCAL"`)

	ib.mustDo(t, "PUT", "/websocket/credentials", `{"AKIDLOCAL": "local-secret"}`, nil)
	ib.waitEvent(t, refused.Seq, "kind=CONNECT&client=ws-device", nil)

	for body, want := range map[string]string{
		`[]`:              "want a JSON object",
		`null`:            "got null",
		`{"a": ""}`:       `access key id "a": neither it nor its secret may be empty`,
		`{"a": "b"} {}`:   "more than one JSON value",
		`{"a": "b", "c"}`: "want a JSON object",
	} {
		var answer map[string]string
		require.Equal(t, http.StatusBadRequest, ib.do(t, "PUT", "/websocket/credentials", body, &answer), body)
		require.Contains(t, answer["error"], want, body)
	}
}

func TestEventPages(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t)
	for i := range 5 {
		ib.mustDo(t, "POST", fmt.Sprintf("/publish?topic=page/%d", i), "p", nil) // no subscriber: no event
		ib.mustDo(t, "PUT", "/faults/hang-up", "", nil)
		ib.mustDo(t, "DELETE", "/faults/hang-up", "", nil)
	}
	type page struct {
		Events    []eventJSON `json:"events"`
		Next      uint64      `json:"next"`
		Latest    uint64      `json:"latest"`
		Discarded uint64      `json:"discarded"`
	}
	var all page
	ib.mustDo(t, "GET", "/events", "", &all)
	require.Len(t, all.Events, 10)
	require.EqualValues(t, 10, all.Latest)
	require.EqualValues(t, 10, all.Next)

	var seqs []uint64
	for after := uint64(0); after < all.Latest; {
		var p page
		ib.mustDo(t, "GET", fmt.Sprintf("/events?after=%d&limit=3", after), "", &p)
		require.LessOrEqual(t, len(p.Events), 3)
		for _, e := range p.Events {
			seqs = append(seqs, e.Seq)
		}
		after = p.Next
	}
	require.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, seqs)

	var on page
	ib.mustDo(t, "GET", "/events?kind=fault&after=4", "", &on)
	require.Len(t, on.Events, 6)
	for _, e := range on.Events {
		require.Greater(t, e.Seq, uint64(4))
		require.Equal(t, "hang-up", e.Fault)
	}
}

func TestEventStreamIsServerSentEvents(t *testing.T) {
	t.Parallel()
	ib := startInProcess(t)
	ib.mustDo(t, "PUT", "/faults/blackhole", "", nil)
	ib.mustDo(t, "DELETE", "/faults/blackhole", "", nil)

	ctx := testenv.Context(t)
	req, err := http.NewRequestWithContext(ctx, "GET", ib.info.Control+"/events/stream", nil)
	require.NoError(t, err)
	req.Header.Set("Last-Event-ID", "1") // as an EventSource resuming
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "\n\n") {
		n, err := resp.Body.Read(buf)
		require.NoError(t, err)
		got.Write(buf[:n])
	}
	frame, _, _ := strings.Cut(got.String(), "\n\n")
	id, data, ok := strings.Cut(frame, "\n")
	require.True(t, ok, frame)
	require.Equal(t, "id: 2", id, "resumed after Last-Event-ID")
	require.True(t, strings.HasPrefix(data, `data: {"seq":2,"at":"`), data)
	require.Contains(t, data, `"kind":"FAULT"`)
	require.Contains(t, data, `"on":false`)
}

// --host adds names to the server certificate, for SDKs that want an
// AWS-looking endpoint, and iotbroker says how to map them here.
func TestExtraHostNames(t *testing.T) {
	t.Parallel()
	const name = "abc123-ats.iot.us-east-1.amazonaws.com"
	ib := startInProcess(t, "--host", name)
	require.Equal(t, []string{"localhost", "127.0.0.1", name}, ib.info.Hosts)
	require.Contains(t, ib.stderr.String(), "echo '127.0.0.1 "+name+"' | sudo tee -a /etc/hosts")

	pool, device, err := certs.LoadDeviceFiles(certs.DeviceFiles{RootCA: ib.info.Kit.RootCA, Cert: ib.info.Kit.Things[0].Cert, PrivateKey: ib.info.Kit.Things[0].PrivateKey})
	require.NoError(t, err)
	for _, serverName := range []string{name, "localhost"} {
		conn, err := tls.Dial("tcp", ib.info.Endpoints["mtls"].Addr, &tls.Config{
			ServerName: serverName, RootCAs: pool, Certificates: []tls.Certificate{device.TLSCertificate()},
		})
		require.NoError(t, err, "the certificate covers %s", serverName)
		conn.Close()
	}
	_, err = tls.Dial("tcp", ib.info.Endpoints["mtls"].Addr, &tls.Config{ServerName: "other.example", RootCAs: pool})
	require.ErrorContains(t, err, "not other.example")
}
