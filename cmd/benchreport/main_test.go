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

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The report runs end to end at a small scale and renders every
// measurement. Its numbers are not checked here: timing belongs to make
// bench, not to tests.
func TestQuickReportRendersEveryMeasurement(t *testing.T) {
	out := filepath.Join(t.TempDir(), "RESULTS.md")
	var stdout bytes.Buffer
	err := run([]string{"-quick", "-out", out}, &stdout)
	var missed errTargetsMissed
	if err != nil {
		require.True(t, errors.As(err, &missed), "only missed targets may fail a quick run: %v", err)
	}
	written, rerr := os.ReadFile(out)
	require.NoError(t, rerr)
	require.Equal(t, stdout.String(), string(written))
	for _, want := range []string{"machine:", "Publish throughput", "QoS1 async 8 KiB", "End-to-end latency", "Drain accuracy", "100 Hz", "2 Hz",
		"Back-off accuracy", "drift", "Link-loss detection", "Reconnect cost", "Offline queue", "memory per queued message",
		"Cost growth", "100 subscription(s)", "100 concurrent publisher(s)", "Binary size", "on raw paho"} {
		require.Contains(t, stdout.String(), want)
	}
	require.Equal(t, strings.Count(stdout.String(), "| ok |")+strings.Count(stdout.String(), "| **MISSED** |"), 17, "every target is judged")
}

func TestFlags(t *testing.T) {
	require.ErrorContains(t, run([]string{"-endpoint", "h"}, &bytes.Buffer{}), "needs -rootCA")
	require.Error(t, run([]string{"-bogus"}, &bytes.Buffer{}))
}

func TestInterquartileMean(t *testing.T) {
	require.InDelta(t, 2.375, interquartileMean([]float64{9, 1, 2, 3, 0.1, 2, 3, 2.5}), 1e-9, "the lowest and highest quarter are left out")
	require.InDelta(t, 2.0, interquartileMean([]float64{1, 3}), 1e-9)
}
