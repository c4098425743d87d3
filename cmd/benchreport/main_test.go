package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain runs the tests or, started by the throughput measurement, the
// broker process.
func TestMain(m *testing.M) {
	serveIfBrokerProcess()
	goleak.VerifyTestMain(m)
}

// The report runs end to end at a small scale and renders every
// measurement, each in a subtest of its own, in parallel. Its numbers are
// not checked here: timing belongs to make bench, not to tests.
func TestQuickReportRendersEveryMeasurement(t *testing.T) {
	steps := []struct {
		name    string
		want    []string
		targets int // rows with a target judged
	}{
		{"throughput", []string{"broker in a process of its own", "broker in benchreport's process", "QoS1 async 8 KiB"}, 8},
		{"latency", []string{"End-to-end latency"}, 0},
		{"drain-100hz", []string{"Drain accuracy", "100 Hz"}, 2},
		{"drain-2hz", []string{"Drain accuracy", "2 Hz"}, 2},
		{"backoff", []string{"Back-off accuracy", "drift"}, 2},
		{"link-loss", []string{"Link-loss detection"}, 1},
		{"reconnect", []string{"Reconnect cost"}, 0},
		{"offline-queue", []string{"Offline queue", "memory per queued message"}, 1},
		{"persistent-queue", []string{"Persistent offline queue", "SyncBatched, 2.0k publishes: enqueue rate", "SyncEachRequest, 100 publishes: bytes on disk per message", "in memory, 2.0k publishes: drain rate"}, 1},
		{"cost-growth", []string{"Cost growth", "50 subscription(s)", "100 concurrent publisher(s)"}, 0},
		{"binary-size", []string{"Binary size", "on raw paho"}, 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "RESULTS.md")
			var stdout bytes.Buffer
			err := run([]string{"-quick", "-only", s.name, "-out", out}, &stdout)
			var missed errTargetsMissed
			if err != nil {
				require.True(t, errors.As(err, &missed), "only missed targets may fail a quick run: %v", err)
			}
			written, rerr := os.ReadFile(out)
			require.NoError(t, rerr)
			require.Equal(t, stdout.String(), string(written))
			require.Contains(t, stdout.String(), "machine:")
			for _, want := range s.want {
				require.Contains(t, stdout.String(), want)
			}
			require.Equal(t, s.targets, strings.Count(stdout.String(), "| ok |")+strings.Count(stdout.String(), "| **MISSED** |"), "every target is judged")
		})
	}
}

func TestFlags(t *testing.T) {
	require.ErrorContains(t, run([]string{"-endpoint", "h"}, &bytes.Buffer{}), "needs -rootCA")
	require.Error(t, run([]string{"-bogus"}, &bytes.Buffer{}))
	require.ErrorContains(t, run([]string{"-only", "speed"}, &bytes.Buffer{}), `no measurement "speed"`)
}

func TestInterquartileMean(t *testing.T) {
	require.InDelta(t, 2.375, interquartileMean([]float64{9, 1, 2, 3, 0.1, 2, 3, 2.5}), 1e-9, "the lowest and highest quarter are left out")
	require.InDelta(t, 2.0, interquartileMean([]float64{1, 3}), 1e-9)
}

// A broker process that cannot start is an error naming it, and leaves
// no process behind (goleak checks the goroutine that waits for it).
func TestBrokerProcessThatFailsIsAnError(t *testing.T) {
	p, err := startBrokerProcess("")
	require.Nil(t, p)
	require.ErrorContains(t, err, "exited before saying where it listens")
}

// A broker process serves until told to stop, then exits cleanly.
func TestBrokerProcessStops(t *testing.T) {
	p, err := startBrokerProcess("bench-stop")
	require.NoError(t, err)
	require.Equal(t, "localhost", p.endpoint.Host)
	require.FileExists(t, p.endpoint.Cert)
	require.NoError(t, p.stop())
	require.NoFileExists(t, p.endpoint.Cert, "the broker process removes its credentials as it exits")
}
