package main

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

const installMosquitto = "Debian: apt-get install mosquitto-clients"

// mosquittoTLS are the mosquitto client flags for an endpoint of iotbroker
// with a thing's files.
func mosquittoTLS(ib *iotbroker, endpoint string, th thing) []string {
	ep := ib.info.Endpoints[endpoint]
	return []string{"-h", ep.Host, "-p", strconv.Itoa(ep.Port), "--cafile", ib.info.Kit.RootCA, "--cert", th.Cert, "--key", th.PrivateKey}
}

// mosquitto_sub and mosquitto_pub, clients nobody here wrote, against
// iotbroker as a process: mutual TLS on 8883 and on the ALPN listener,
// a cut through the control API, the subscriber's own reconnect, and
// messages from mosquitto_pub and from the broker.
func TestMosquittoClients(t *testing.T) {
	t.Parallel()
	sub := testenv.RequireTool(t, "mosquitto_sub", installMosquitto)
	pub := testenv.RequireTool(t, "mosquitto_pub", installMosquitto)
	p := startProcess(t, "--thing", "mosquitto", "--alpn", "127.0.0.1:0")
	ib := &p.iotbroker
	th := ib.info.Kit.Things[0]
	const topic = "interop/mosquitto"

	subscriber := startProc(t, "mosquitto_sub", exec.Command(sub, append(mosquittoTLS(ib, "mtls", th),
		"-i", "mosq-sub", "-t", topic, "-q", "1", "-v", "-C", "3")...))
	subscribed := ib.waitEvent(t, 0, "kind=SUBACK&client=mosq-sub", nil)

	publish := func(endpoint, id, message string, extra ...string) {
		t.Helper()
		args := append(mosquittoTLS(ib, endpoint, th), "-i", id, "-t", topic, "-q", "1", "-m", message)
		publisher := startProc(t, "mosquitto_pub", exec.Command(pub, append(args, extra...)...))
		require.NoError(t, publisher.wait(t, testenv.Timeout), publisher.stderr.String())
	}
	publish("mtls", "mosq-pub", "one")
	first := ib.waitEvent(t, subscribed.Seq, "kind=DELIVER&client=mosq-sub", nil)
	require.Equal(t, "one", *first.Payload)

	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mosquitto_sub stdout:\n%s\nstderr:\n%s", subscriber.stdout, subscriber.stderr)
		}
	})
	ib.mustDo(t, "POST", "/clients/mosq-sub/cut?mode=rst", "", nil)
	cut := ib.waitEvent(t, first.Seq, "kind=FAULT&fault=cut", nil)
	gone := ib.waitEvent(t, cut.Seq, "kind=DISCONNECT&client=mosq-sub", nil)
	back := ib.waitEvent(t, gone.Seq, "kind=CONNECT&client=mosq-sub", nil)
	resubscribed := ib.waitEvent(t, back.Seq, "kind=SUBACK&client=mosq-sub", nil)
	wait := at(t, back).Sub(at(t, cut))
	t.Logf("mosquitto_sub reconnected %v after the cut", wait)
	require.InDelta(t, time.Second, wait, float64(500*time.Millisecond), "libmosquitto retries after its reconnect delay, 1 s")

	publish("alpn", "mosq-pub-alpn", "two", "--tls-alpn", "x-amzn-mqtt-ca")
	ev := ib.waitEvent(t, resubscribed.Seq, "kind=CONNECT&client=mosq-pub-alpn", nil)
	require.Equal(t, "alpn", ev.Listener)
	require.Equal(t, "x-amzn-mqtt-ca", ev.ALPN)
	// AWS IoT Core does not keep the order of messages from different
	// publishers (nor does the profile's delivery): "two" is delivered
	// before the broker publishes "three".
	ib.waitEvent(t, ev.Seq, "kind=DELIVER&client=mosq-sub", nil)
	ib.mustDo(t, "POST", "/publish?topic="+topic+"&qos=1", "three", nil)

	require.NoError(t, subscriber.wait(t, testenv.Timeout), subscriber.stderr.String())
	require.Equal(t, []string{topic + " one", topic + " two", topic + " three"}, strings.Split(strings.TrimSpace(subscriber.stdout.String()), "\n"))
}

// at parses an event's time.
func at(t *testing.T, e eventJSON) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, e.At)
	require.NoError(t, err)
	return ts
}
