package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// runAsIotbroker makes the test binary run iotbroker's main instead of the
// tests: how the tests start iotbroker as a process of its own.
const runAsIotbroker = "IOTBROKER_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runAsIotbroker) == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// ephemeral are the flags that put every listener on a free loopback port.
var ephemeral = []string{"--mtls", "127.0.0.1:0", "--control", "127.0.0.1:0"}

// quickReconnects is AWS's profile without its connect throttle (as
// testenv.QuickReconnects), for tests of cuts whose devices' scaled
// back-off reconnects sooner than AWS admits; the throttle itself is
// TestTheAWSProfileIsTheDefault's.
var quickReconnects = []string{"--connect-interval", "0"}

// readReady reads the ready line from stdout, bounded by testenv.Timeout.
func readReady(stdout io.Reader) (readyInfo, error) {
	type result struct {
		info readyInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			done <- result{err: fmt.Errorf("no ready line (read %q): %w", line, err)}
			return
		}
		var info readyInfo
		err = json.Unmarshal([]byte(line), &info)
		done <- result{info, err}
	}()
	select {
	case r := <-done:
		return r.info, r.err
	case <-time.After(testenv.Timeout):
		return readyInfo{}, errors.New("no ready line in time")
	}
}

// iotbroker is a running iotbroker, in this process or as a process of
// its own.
type iotbroker struct {
	info   readyInfo
	stderr *testenv.Buffer
}

// startInProcess runs iotbroker's run in this process with args (and a
// fresh --dir unless args give one), stopped when the test ends.
func startInProcess(t *testing.T, args ...string) *iotbroker {
	t.Helper()
	args = withDefaults(t, args)
	ctx, cancel := context.WithCancel(context.Background())
	stdoutR, stdoutW := io.Pipe()
	ib := &iotbroker{stderr: &testenv.Buffer{}}
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, stdoutW, ib.stderr)
		stdoutW.CloseWithError(fmt.Errorf("run returned: %v", err))
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err, ib.stderr.String())
		case <-time.After(testenv.Timeout):
			t.Errorf("iotbroker did not stop in time\n%s", ib.stderr.String())
		}
	})
	info, err := readReady(stdoutR)
	require.NoError(t, err, ib.stderr.String())
	go io.Copy(io.Discard, stdoutR) // nothing more is written; drain anyway
	ib.info = info
	return ib
}

// proc is a program the test started: iotbroker, or an outside tool. It
// is stopped by its PID when the test ends, if it still runs.
type proc struct {
	name    string
	cmd     *exec.Cmd
	stdout  *testenv.Buffer // unless the caller set cmd.Stdout
	stderr  *testenv.Buffer
	done    chan error // Wait's result, once
	exited  bool
	exitErr error
}

// startProc starts cmd, collecting its stdout (unless set) and stderr.
func startProc(t *testing.T, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, stdout: &testenv.Buffer{}, stderr: &testenv.Buffer{}, done: make(chan error, 1)}
	if cmd.Stdout == nil {
		cmd.Stdout = p.stdout
	}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start(), name)
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if !p.exited {
			_ = p.cmd.Process.Kill()
			p.wait(t, testenv.Timeout)
		}
	})
	return p
}

// wait waits up to d for the program to exit and returns how it exited;
// it fails the test if it does not exit in time.
func (p *proc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	if p.exited {
		return p.exitErr
	}
	select {
	case p.exitErr = <-p.done:
		p.exited = true
		return p.exitErr
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		p.exitErr, p.exited = <-p.done, true
		t.Fatalf("%s (pid %d) did not exit within %v; killed\nstdout:\n%s\nstderr:\n%s", p.name, p.cmd.Process.Pid, d, p.stdout, p.stderr)
		return nil
	}
}

// stop sends sig to the program, by its PID, and fails the test unless it
// exits with status 0 in time. Stopping it again does nothing.
func (p *proc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if p.exited {
		return
	}
	require.NoError(t, p.cmd.Process.Signal(sig))
	require.NoError(t, p.wait(t, testenv.Timeout), "%s (pid %d) exit status\n%s", p.name, p.cmd.Process.Pid, p.stderr)
}

// process is iotbroker running as a process of its own.
type process struct {
	iotbroker
	*proc
}

// startProcess starts iotbroker as a process (this test binary, running
// main) with args (and a fresh --dir unless args give one). It is stopped
// with SIGTERM when the test ends, and must exit cleanly.
func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], withDefaults(t, args)...)
	cmd.Env = append(os.Environ(), runAsIotbroker+"=1")
	stdout, stdoutW := io.Pipe()
	cmd.Stdout = stdoutW
	p := &process{proc: startProc(t, "iotbroker", cmd)}
	p.iotbroker.stderr = p.proc.stderr
	t.Cleanup(func() {
		p.stop(t, syscall.SIGTERM)
		stdoutW.Close()
	})
	info, err := readReady(stdout)
	require.NoError(t, err, p.proc.stderr.String())
	go io.Copy(io.Discard, stdout) // until the pipe is closed
	p.info = info
	return p
}

// withDefaults adds a fresh --dir and free ports for what args leave out.
func withDefaults(t *testing.T, args []string) []string {
	given := strings.Join(args, " ")
	out := append([]string(nil), args...)
	if !strings.Contains(given, "--dir") {
		out = append(out, "--dir", t.TempDir())
	}
	for i := 0; i < len(ephemeral); i += 2 {
		if !strings.Contains(given, ephemeral[i]+" ") {
			out = append(out, ephemeral[i], ephemeral[i+1])
		}
	}
	return out
}

// do makes a request to the control API and decodes its JSON answer into
// out (if not nil); it returns the status.
func (ib *iotbroker) do(t *testing.T, method, path, body string, out any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, ib.info.Control+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(data, out), "%s %s: %s", method, path, data)
	}
	return resp.StatusCode
}

// mustDo is do for a request that must succeed (2xx).
func (ib *iotbroker) mustDo(t *testing.T, method, path, body string, out any) {
	t.Helper()
	var raw json.RawMessage
	status := ib.do(t, method, path, body, &raw)
	require.Less(t, status, 300, "%s %s: %d %s", method, path, status, raw)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out))
	}
}

// latest returns the sequence number of the latest event.
func (ib *iotbroker) latest(t *testing.T) uint64 {
	t.Helper()
	var h struct {
		Latest uint64 `json:"latest_event"`
	}
	ib.mustDo(t, "GET", "/health", "", &h)
	return h.Latest
}

// waitEvent follows the event stream (its ndjson form) from after, with
// the filters in query ("kind=CONNECT&client=x"), until an event for which
// where returns true arrives, bounded by testenv.Timeout.
func (ib *iotbroker) waitEvent(t *testing.T, after uint64, query string, where func(eventJSON) bool) eventJSON {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testenv.Timeout)
	defer cancel()
	url := fmt.Sprintf("%s/events/stream?format=ndjson&after=%d", ib.info.Control, after)
	if query != "" {
		url += "&" + query
	}
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	dec := json.NewDecoder(resp.Body)
	for {
		var e eventJSON
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("waiting for an event after #%d (%s): %v", after, query, err)
		}
		if where == nil || where(e) {
			return e
		}
	}
}

// device connects a Go client to the mutual-TLS endpoint with a thing's
// files, with fast reconnects; it is disconnected when the test ends.
func (ib *iotbroker) device(t *testing.T, clientID string, th thing) *client.Client {
	t.Helper()
	ep := ib.info.Endpoints["mtls"]
	cfg := client.DefaultConfig(clientID)
	cfg.ConfigureEndpoint(ep.Host, ep.Port)
	cfg.ConfigureCredentials(ib.info.Kit.RootCA, th.PrivateKey, th.Cert)
	testenv.Scale(&cfg, 100*time.Millisecond)
	return testenv.Connect(t, cfg)
}
