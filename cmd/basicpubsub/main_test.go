package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/samples"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The connection and schedule flags' own checks are internal/samples'
// (one row each here shows they apply); the rest are the sample's.
func TestFlagErrors(t *testing.T) {
	testenv.RequireUsageErrors(t, run, []testenv.UsageCase{
		{Args: []string{"--endpoint", "h", "--rootCA", "ca", "--cert", "c"}, Want: "Missing credentials for authentication."},
		{Args: []string{"--interval", "0s"}, Want: "--interval must be positive"},
		{Args: []string{"-m", "listen"}, Want: "Unknown --mode option listen. Must be one of [both publish subscribe]"},
		{Args: []string{"--faults", "-e", "h", "-r", "ca", "-c", "c", "-k", "k"}, Want: "--faults needs the embedded broker"},
		{Args: []string{"--bogus"}, Want: "flag provided but not defined: -bogus"},
		{Args: []string{"extra"}, Want: "unexpected arguments: extra"},
	})
}

func TestPortDefaults(t *testing.T) {
	o, err := parseFlags([]string{"-e", "h", "-r", "ca", "-c", "c", "-k", "k"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 8883, o.Port)
	o, err = parseFlags([]string{"-e", "h", "-r", "ca", "-w"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 443, o.Port)
	o, err = parseFlags([]string{"--endpoint", "h", "--rootCA", "ca", "--websocket", "--port", "8443", "--clientId", "me", "--topic", "t", "--mode", "publish", "--message", "hi"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, options{Connection: samples.Connection{Endpoint: "h", RootCA: "ca", Websocket: true, Port: 8443}, clientID: "me", topic: "t", mode: "publish", message: "hi", Schedule: samples.Schedule{Interval: time.Second}}, *o)
}

func TestEncodeMessageLikePython(t *testing.T) {
	require.Equal(t, `{"message": "Hello World!", "sequence": 0}`, string(encodeMessage("Hello World!", 0)))
	require.Equal(t, `{"message": "a \"q\" <b>", "sequence": 12}`, string(encodeMessage(`a "q" <b>`, 12)))
}

func TestEmbeddedRunWithCount(t *testing.T) {
	var stdout, stderr testenv.Buffer
	err := run(context.Background(), []string{"--count", "3", "--interval", "20ms"}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	for i := range 3 {
		require.Contains(t, stdout.String(), fmt.Sprintf("Received a new message: \n{\"message\": \"Hello World!\", \"sequence\": %d}\nfrom topic: \nsdk/test/Python\n", i))
	}
	require.Equal(t, 3, strings.Count(stdout.String(), "Received a new message"))
	require.Contains(t, stderr.String(), "started the embedded broker")
	require.Contains(t, stderr.String(), "disconnected")
}

func TestPublishMode(t *testing.T) {
	var stdout, stderr testenv.Buffer
	err := run(context.Background(), []string{"--count", "2", "--interval", "20ms", "-m", "publish", "-M", "hi", "-t", "x/y"}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Contains(t, stdout.String(), "Published topic x/y: {\"message\": \"hi\", \"sequence\": 1}\n")
	require.NotContains(t, stdout.String(), "Received")
}

func TestFaultDemoShowsTheTimeline(t *testing.T) {
	var stdout, stderr testenv.Buffer
	err := run(context.Background(), []string{"--faults", "--count", "8", "--interval", "50ms"}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	log := stderr.String()
	for _, want := range []string{"*** fault: the link is cut", "connection lost", "reconnecting after back-off wait=50ms",
		"queued, client connecting", "*** fault over", "connected", "queued=", "subscriptions renewed filters=1", "draining offline queue interval=25ms"} {
		require.Contains(t, log, want)
	}
	for i := range 8 {
		require.Contains(t, stdout.String(), fmt.Sprintf("\"sequence\": %d}", i), "message %d arrived despite the cut", i)
	}
}

// The second outage restarts the program: the client is closed with
// publishes queued, and a new one on the same directory restores and
// drains them; the broker received every publish.
func TestFaultDemoRestartLosesNothing(t *testing.T) {
	var stdout, stderr testenv.Buffer
	dir := t.TempDir()
	err := run(context.Background(), []string{"--faults", "--count", "18", "--interval", "50ms", "--queue-dir", dir}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	log := stderr.String()
	restart := regexp.MustCompile(`\*\*\* restart: the program closes its client with (\d+) publishes queued in ` + regexp.QuoteMeta(dir))
	m := restart.FindStringSubmatch(log)
	require.NotNil(t, m, log)
	require.NotEqual(t, "0", m[1], "publishes were queued at the restart")
	for _, want := range []string{
		"offline queue opened dir=" + dir + " restored=" + m[1],
		"*** restarted: a new client on the same directory restored " + m[1] + " publishes",
		"*** the broker received all 18 publishes",
	} {
		require.Contains(t, log, want)
	}
	require.Less(t, strings.Index(log, m[0]), strings.Index(log, "restored="+m[1]))
	restored, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	require.GreaterOrEqual(t, strings.Count(stdout.String(), "Received a new message"), 18-restored, "the rest came back to the subscription")
}

func TestInterruptDisconnectsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--interval", "20ms"}, &stdout, &stderr) }()
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "Received a new message") }, 10*time.Second, 5*time.Millisecond)
	cancel() // Ctrl-C
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
	require.Contains(t, stderr.String(), "disconnected")
}

func TestWrongEndpointIsAClearError(t *testing.T) {
	err := run(context.Background(), []string{"-e", "h", "-r", "/nonexistent/ca.pem", "-c", "c", "-k", "k"}, &bytes.Buffer{}, &bytes.Buffer{})
	require.Error(t, err)
	require.False(t, errors.Is(err, samples.ErrUsage))
	require.ErrorContains(t, err, "/nonexistent/ca.pem")
}

func TestWebsocketOnTheEmbeddedBroker(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDSAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "sample-secret")
	var stdout, stderr testenv.Buffer
	err := run(context.Background(), []string{"-w", "--count", "2", "--interval", "100ms"}, &stdout, &stderr) // timeouts scale with the interval: 1 s to connect
	require.NoError(t, err, stderr.String())
	require.Equal(t, 2, strings.Count(stdout.String(), "Received a new message"))
	require.Contains(t, stderr.String(), "WebSocket (SigV4)")

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	err = run(context.Background(), []string{"-w", "--count", "1", "--interval", "20ms"}, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "AWS_ACCESS_KEY_ID")
}

// The README's command against iotbroker's WebSocket listener (the same
// broker, here in the test): a local host name carries no region, so
// --region gives it.
func TestWebsocketAgainstALocalEndpoint(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDLOCAL")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
	b := broker.NewTLS(t, broker.WithWebSocket(map[string]string{"AKIDLOCAL": "local-secret"}))
	ws := b.WebSocket()
	args := []string{"-e", ws.Host, "-p", strconv.Itoa(ws.Port), "-w", "-r", b.ClientFiles().RootCA, "--count", "2", "--interval", "100ms"}

	err := run(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "Region", "without --region, the name localhost says no region")

	var stdout, stderr testenv.Buffer
	err = run(context.Background(), append(args, "--region", "us-east-1"), &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Equal(t, 2, strings.Count(stdout.String(), "Received a new message"))
	upgrades := b.Events.Events(broker.Match{Kind: broker.KindUpgrade})
	require.NotEmpty(t, upgrades)
	require.Equal(t, http.StatusSwitchingProtocols, upgrades[0].HTTPStatus)
	require.Contains(t, upgrades[0].Detail, "%2Fus-east-1%2Fiotdevicegateway%2Faws4_request", "signed for the region given")
}
