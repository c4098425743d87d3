package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// jsDir holds the JavaScript side: package.json, its lock, device.js.
var jsDir = filepath.Join("..", "..", "interop", "js")

// jsLine is one line the JavaScript device reports.
type jsLine struct {
	Event   string `json:"event"`
	Topic   string `json:"topic"`
	Payload string `json:"payload"`
	Error   string `json:"error"`
}

// jsDevice is device.js running on node: its reports, and its stdin for
// commands.
type jsDevice struct {
	*proc
	stdin io.WriteCloser
	lines chan jsLine
}

// startJSDevice runs device.js for a thing against the mutual-TLS endpoint,
// with the SDK's device options (JSON) over its defaults.
func startJSDevice(t *testing.T, ib *iotbroker, th thing, clientID, topic, options string) *jsDevice {
	t.Helper()
	node := testenv.RequireTool(t, "node", "Debian: apt-get install nodejs npm")
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "aws-iot-device-sdk")); err != nil {
		if os.Getenv(testenv.RequireInterop) == "1" {
			t.Fatalf("aws-iot-device-sdk is not installed in %s (run npm ci there; make test does): %v", jsDir, err)
		}
		t.Skipf("aws-iot-device-sdk is not installed in %s (run npm ci there; make test does)", jsDir)
	}
	ep := ib.info.Endpoints["mtls"]
	cmd := exec.Command(node, filepath.Join(jsDir, "device.js"), ep.Host, strconv.Itoa(ep.Port), ib.info.Kit.RootCA, th.Cert, th.PrivateKey, clientID, topic, options)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, outW := io.Pipe()
	cmd.Stdout = outW
	d := &jsDevice{stdin: stdin, lines: make(chan jsLine, 1000)}
	d.proc = startProc(t, "node device.js", cmd)
	go func() {
		defer close(d.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			d.stdout.Write(append(sc.Bytes(), '\n'))
			var l jsLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				d.lines <- l
			}
		}
	}()
	t.Cleanup(func() { outW.Close() }) // after the process is gone
	return d
}

// next returns the next report of the given event, skipping others
// (messages are collected into got), bounded by testenv.Timeout.
func (d *jsDevice) next(t *testing.T, event string, got *[]string) jsLine {
	t.Helper()
	deadline := time.After(testenv.Timeout)
	for {
		select {
		case l, ok := <-d.lines:
			if !ok {
				t.Fatalf("device.js ended before %q\nstdout:\n%s\nstderr:\n%s", event, d.stdout, d.stderr)
			}
			if l.Event == "message" && got != nil {
				*got = append(*got, l.Payload)
			}
			if l.Event == event {
				return l
			}
		case <-deadline:
			t.Fatalf("device.js did not report %q in time\nstdout:\n%s\nstderr:\n%s", event, d.stdout, d.stderr)
		}
	}
}

func (d *jsDevice) send(t *testing.T, cmd string) {
	t.Helper()
	_, err := io.WriteString(d.stdin, cmd+"\n")
	require.NoError(t, err)
}

// AWS's JavaScript device SDK v1 (aws-iot-device-sdk) against iotbroker as
// a process: mutual TLS, publish and subscribe, a cut through the control
// API while new connections are hung up on, the SDK's back-off, and its
// offline queue drained after the reconnect with nothing lost, duplicated
// or reordered.
func TestJavaScriptDeviceSDK(t *testing.T) {
	t.Parallel()
	p := startProcess(t, "--thing", "js-device")
	ib := &p.iotbroker
	const topic = "interop/js"
	// The SDK's own back-off and drain, at a quarter and two fifths of
	// their defaults (1 s, 250 ms) so the test stays short.
	const base, drain = 250 * time.Millisecond, 100 * time.Millisecond
	d := startJSDevice(t, ib, ib.info.Kit.Things[0], "js-device", topic,
		fmt.Sprintf(`{"baseReconnectTimeMs": %d, "drainTimeMs": %d}`, base.Milliseconds(), drain.Milliseconds()))
	var received []string

	sub := d.next(t, "subscribed", &received)
	require.Empty(t, sub.Error)
	connect := ib.waitEvent(t, 0, "kind=CONNECT&client=js-device", nil)
	require.Contains(t, connect.Username, "SDK=JavaScript", "the SDK's metrics user name: it is the real SDK")

	d.send(t, `{"publish": 3, "from": 0}`)
	for range 3 {
		d.next(t, "message", &received)
	}

	// Cut the link while new connections are hung up on: the SDK goes
	// offline and queues what is published meanwhile.
	ib.mustDo(t, "PUT", "/faults/hang-up", "", nil)
	mark := ib.latest(t)
	ib.mustDo(t, "POST", "/clients/js-device/cut?mode=rst", "", nil)
	cut := ib.waitEvent(t, mark, "kind=FAULT&fault=cut", nil)
	d.next(t, "offline", &received)
	const queued = 10
	d.send(t, fmt.Sprintf(`{"publish": %d, "from": 3}`, queued))
	d.next(t, "published", &received)

	// Two attempts hung up on, timed by the broker: the SDK's back-off.
	first := ib.waitEvent(t, cut.Seq, "kind=ACCEPT", nil)
	second := ib.waitEvent(t, first.Seq, "kind=ACCEPT", nil)
	t.Logf("attempts %v and %v after the cut", at(t, first).Sub(at(t, cut)), at(t, second).Sub(at(t, cut)))
	// The SDK waits baseReconnectTimeMs, then twice that.
	require.InDelta(t, base, at(t, first).Sub(at(t, cut)), float64(150*time.Millisecond), "first wait")
	require.InDelta(t, 2*base, at(t, second).Sub(at(t, first)), float64(200*time.Millisecond), "second wait")
	ib.mustDo(t, "DELETE", "/faults/hang-up", "", nil)

	connack := ib.waitEvent(t, second.Seq, "kind=CONNACK&client=js-device", nil)
	var drained []eventJSON
	for range queued {
		after := connack.Seq
		if len(drained) > 0 {
			after = drained[len(drained)-1].Seq
		}
		drained = append(drained, ib.waitEvent(t, after, "kind=PUBLISH&client=js-device", nil))
	}
	for range queued {
		d.next(t, "message", &received)
	}

	// Nothing lost, duplicated or reordered: the broker saw each queued
	// message once, in order, and the device got all 13 back.
	var seqs []int
	var gaps []time.Duration
	for i, e := range drained {
		var m struct{ Seq int }
		require.NoError(t, json.Unmarshal([]byte(*e.Payload), &m))
		seqs = append(seqs, m.Seq)
		require.False(t, e.Dup)
		if i > 0 {
			gaps = append(gaps, at(t, e).Sub(at(t, drained[i-1])))
		}
	}
	require.Equal(t, []int{3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, seqs)
	want := make([]string, 3+queued)
	for i := range want {
		want[i] = fmt.Sprintf(`{"seq":%d}`, i)
	}
	require.Equal(t, want, received)
	require.Equal(t, 3+queued, countEvents(t, ib, "kind=PUBLISH&client=js-device"), "no message published twice")

	// The drain's pacing, from the broker's timestamps: the SDK sends one
	// queued request per drainTimeMs.
	sorted := slices.Clone(gaps)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	t.Logf("first queued message %v after the CONNACK; gaps %v", at(t, drained[0]).Sub(at(t, connack)), gaps)
	median := sorted[len(sorted)/2]
	require.InDelta(t, drain, median, float64(drain/2), "median gap %v", median)
	require.Greater(t, sorted[0], drain/2, "paced, not in a burst")

	d.send(t, `{"end": true}`)
	d.next(t, "ended", &received)
	require.NoError(t, d.wait(t, testenv.Timeout))
	ib.waitEvent(t, drained[len(drained)-1].Seq, "kind=DISCONNECT&client=js-device", func(e eventJSON) bool { return e.Cause == "" })
}

// countEvents counts the events a filter selects.
func countEvents(t *testing.T, ib *iotbroker, query string) int {
	t.Helper()
	var page struct {
		Events []eventJSON `json:"events"`
	}
	ib.mustDo(t, "GET", "/events?limit=10000&"+query, "", &page)
	return len(page.Events)
}
