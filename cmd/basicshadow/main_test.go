package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/internal/samples"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The connection and schedule flags' own checks are internal/samples'
// (one row each here shows they apply); the rest are the sample's.
func TestFlagErrors(t *testing.T) {
	testenv.RequireUsageErrors(t, run, []testenv.UsageCase{
		{Args: []string{"-e", "h", "-r", "ca"}, Want: "Missing credentials for authentication."},
		{Args: []string{"--interval", "0s"}, Want: "--interval must be positive"},
		{Args: []string{"-m", "both-ways"}, Want: "Unknown --mode option both-ways. Must be one of [both updater listener]"},
		{Args: []string{"--thing", "x"}, Want: "flag provided but not defined: -thing"},
		{Args: []string{"extra"}, Want: "unexpected arguments: extra"},
	})
}

func TestFlagsLikeThePythonSamples(t *testing.T) {
	o, err := parseFlags([]string{"--endpoint", "h", "--rootCA", "ca", "--cert", "c", "--key", "k", "--thingName", "Lamp", "--clientId", "me", "--mode", "updater"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, options{Connection: samples.Connection{Endpoint: "h", RootCA: "ca", Cert: "c", Key: "k", Port: 8883},
		thingName: "Lamp", clientID: "me", mode: "updater", Schedule: samples.Schedule{Interval: time.Second}}, *o)
	updater, _ := o.clientIDs()
	require.Equal(t, "me", updater)

	o, err = parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "Bot", o.thingName, "the samples' default thing")
	updater, listener := o.clientIDs()
	require.Equal(t, []string{"basicShadowUpdater", "basicShadowDeltaListener"}, []string{updater, listener}, "the samples' default client ids")
	o, err = parseFlags([]string{"-id", "me", "-m", "listener"}, &bytes.Buffer{})
	require.NoError(t, err)
	_, listener = o.clientIDs()
	require.Equal(t, "me", listener)
	o, err = parseFlags([]string{"-id", "me"}, &bytes.Buffer{})
	require.NoError(t, err)
	updater, listener = o.clientIDs()
	require.Equal(t, []string{"me", "me-listener"}, []string{updater, listener})
}

var token = `[A-Z2-7]{26}` // the handler's clientTokens

// Both samples on the embedded broker: the updater's delete finds no
// shadow, its updates are accepted with their properties, and the listener
// prints each delta with its version.
func TestBothSamplesOnTheEmbeddedBroker(t *testing.T) {
	var stdout, stderr testenv.Buffer
	err := run(context.Background(), []string{"--count", "3", "--interval", "100ms"}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	out := stdout.String()
	require.Regexp(t, "Delete request "+token+" rejected!\n", out, "a fresh broker has no shadow to delete")
	for i := range 3 {
		require.Regexp(t, fmt.Sprintf("~~~~~~~~~~~~~~~~~~~~~~~\nUpdate request with token: %s accepted!\nproperty: %d\n~~~~~~~~~~~~~~~~~~~~~~~\n\n\n", token, i), out)
		require.Contains(t, out, fmt.Sprintf("delta/Bot\n++++++++DELTA++++++++++\nproperty: %d\nversion: %d\n+++++++++++++++++++++++\n\n\n", i, i+1))
	}
	require.Equal(t, 3, strings.Count(out, "accepted!"))
	require.Equal(t, 3, strings.Count(out, "DELTA"))
	require.Contains(t, stderr.String(), "started the embedded broker")
}

func TestUpdaterAlone(t *testing.T) {
	var stdout, stderr testenv.Buffer
	err := run(context.Background(), []string{"-m", "updater", "--count", "2", "--interval", "100ms", "-n", "Lamp"}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Equal(t, 2, strings.Count(stdout.String(), "accepted!"))
	require.NotContains(t, stdout.String(), "DELTA")
}

// The listener alone on the embedded broker: the broker's data plane sets
// the desired state, as an application would.
func TestListenerAloneGetsTheDataPlanesDeltas(t *testing.T) {
	var stdout, stderr testenv.Buffer
	err := run(context.Background(), []string{"-m", "listener", "--count", "2", "--interval", "100ms"}, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	require.Contains(t, stderr.String(), "the embedded broker's data plane sets desired.property")
	require.Equal(t, 2, strings.Count(stdout.String(), "DELTA"))
	require.Contains(t, stdout.String(), "property: 1\nversion: 2\n")
	require.NotContains(t, stdout.String(), "Update request")
}

func TestInterruptDisconnectsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--interval", "50ms"}, &stdout, &stderr) }()
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "DELTA") }, 10*time.Second, 5*time.Millisecond)
	cancel() // Ctrl-C
	require.NoError(t, testenv.Receive(t, testenv.Context(t), done, "run to stop"))
	require.Equal(t, 2, strings.Count(stderr.String(), `msg="client: disconnected"`), "both clients")
}

func TestWrongEndpointIsAClearError(t *testing.T) {
	err := run(context.Background(), []string{"-e", "h", "-r", "/nonexistent/ca.pem", "-c", "c", "-k", "k"}, &bytes.Buffer{}, &bytes.Buffer{})
	require.Error(t, err)
	require.NotErrorIs(t, err, samples.ErrUsage)
	require.ErrorContains(t, err, "/nonexistent/ca.pem")
}
