package broker_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
)

// openFDs returns the process's open file descriptors, each with what it
// refers to (a file's path, socket:[inode], anon_inode:…), so that a
// failed comparison names the descriptor left open.
func openFDs(t *testing.T) map[string]string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	open := make(map[string]string, len(fds))
	for _, fd := range fds {
		target, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())) // the directory's own descriptor is gone by now
		open[fd.Name()] = target
	}
	delete(open, fdOfReadDir(open))
	return open
}

// fdOfReadDir finds the descriptor ReadDir itself used, listed but already
// closed: the one whose link can no longer be read.
func fdOfReadDir(open map[string]string) string {
	for fd, target := range open {
		if target == "" {
			return fd
		}
	}
	return ""
}

// plugHoles opens /dev/null until no descriptor number below the next free
// one is unused, so that a limit of next+n leaves room for exactly n more
// files. It returns next; the plugs are closed when the test ends.
func plugHoles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	highest := 0
	for _, fd := range fds {
		n, err := strconv.Atoi(fd.Name())
		require.NoError(t, err)
		highest = max(highest, n)
	}
	for {
		f, err := os.Open(os.DevNull)
		require.NoError(t, err)
		if fd := int(f.Fd()); fd > highest {
			require.NoError(t, f.Close())
			return fd
		}
		t.Cleanup(func() { f.Close() })
	}
}

// Start, under a descriptor limit that leaves room for 0, 1, 2… more files,
// fails at every step of its setup in turn (credential files, each proxy,
// each internal listener) until it has room for everything. Every failure
// is an error, not a panic, and leaves no descriptor open.
func TestStartFailsCleanlyAtEverySetupStep(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd")
	}
	var limit syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit))
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit) })
	warm, err := net.Listen("tcp", "127.0.0.1:0") // the network poller's own descriptors stay open
	require.NoError(t, err)
	require.NoError(t, warm.Close())
	next := plugHoles(t)

	var failures []string
	for room := 0; ; room++ {
		require.Less(t, room, 64, "Start never succeeded; failures: %v", failures)
		before := openFDs(t)
		low := limit
		low.Cur = uint64(next + room)
		require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low))
		b, err := broker.StartTLS(broker.WithPlainTCP(), broker.WithWebSocket(testCreds))
		require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit))
		if err == nil {
			require.NoError(t, b.Close())
			require.Equal(t, before, openFDs(t), "descriptors left open by Close (descriptor number: what it refers to)")
			break
		}
		require.ErrorContains(t, err, "broker: ")
		require.Equal(t, before, openFDs(t), "descriptors left open after: %v (descriptor number: what it refers to)", err)
		failures = append(failures, err.Error())
	}
	// The credential files (and with them the first proxy), the other two
	// proxies, the three internal listeners.
	require.GreaterOrEqual(t, len(failures), 6, "%q", failures)
}

// fatalTB records a Fatalf and ends the calling goroutine, as testing.T
// does, so a test can check that NewTLS fails its test.
type fatalTB struct {
	testing.TB
	fatal string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestNewTLSFailsTheTestWhenSetupFails(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing")) // the credentials directory cannot be made
	tb := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		broker.NewTLS(tb)
	}()
	<-done
	require.Contains(t, tb.fatal, "broker.NewTLS: broker: credentials directory")
}
