package memnet_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/internal/memnet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The fault proxy resets connections through this interface.
type linger interface{ SetLinger(sec int) error }

var _ linger = (*memnet.Conn)(nil)
var _ net.Conn = (*memnet.Conn)(nil)
var _ net.Listener = (*memnet.Listener)(nil)

// listen listens on 127.0.0.1:0 and closes the listener at the end.
func listen(t *testing.T, n *memnet.Network) net.Listener {
	t.Helper()
	ln, err := n.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln
}

// connect dials ln and accepts: the dialler's end d and the accepted end a,
// closed at the end.
func connect(t *testing.T, n *memnet.Network, ln net.Listener) (d, a net.Conn) {
	t.Helper()
	d, err := n.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	a, err = ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { d.Close(); a.Close() })
	return d, a
}

func readString(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	require.NoError(t, err)
	return string(b)
}

func write(t *testing.T, c net.Conn, s string) {
	t.Helper()
	n, err := c.Write([]byte(s))
	require.NoError(t, err)
	require.Equal(t, len(s), n)
}

// requireOpErr checks that err is a *net.OpError with op that wraps target.
func requireOpErr(t *testing.T, err error, op string, target error) {
	t.Helper()
	require.ErrorIs(t, err, target)
	var oe *net.OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, op, oe.Op)
}

func requireTimeout(t *testing.T, err error, op string) {
	t.Helper()
	requireOpErr(t, err, op, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
}

func TestListenDialAccept(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	ln := listen(t, n)
	d, a := connect(t, n, ln)

	write(t, d, "ping")
	require.Equal(t, "ping", readString(t, a, 4))
	write(t, a, "pong")
	require.Equal(t, "pong", readString(t, d, 4))

	// Zero-length reads and writes return at once.
	nr, err := a.Read(nil)
	require.NoError(t, err)
	require.Zero(t, nr)
	nw, err := d.Write(nil)
	require.NoError(t, err)
	require.Zero(t, nw)

	// Writes split and merge freely: it is a stream.
	write(t, d, "ab")
	write(t, d, "cd")
	require.Equal(t, "a", readString(t, a, 1))
	require.Equal(t, "bcd", readString(t, a, 3))
}

func TestListenAddresses(t *testing.T) {
	t.Parallel()
	n := memnet.New()

	ln, err := n.Listen("tcp", "127.0.0.1:8883")
	require.NoError(t, err)
	defer ln.Close()
	require.Equal(t, "127.0.0.1:8883", ln.Addr().String())
	require.IsType(t, &net.TCPAddr{}, ln.Addr())

	for _, addr := range []string{":0", "localhost:0"} {
		ln, err := n.Listen("tcp4", addr)
		require.NoError(t, err, addr)
		a := ln.Addr().(*net.TCPAddr)
		require.Equal(t, "127.0.0.1", a.IP.String(), addr)
		require.NotZero(t, a.Port, addr)
		require.NoError(t, ln.Close())
	}

	ln6, err := n.Listen("tcp", "[::1]:0")
	require.NoError(t, err)
	require.Equal(t, "::1", ln6.Addr().(*net.TCPAddr).IP.String())
	d, a := connect(t, n, ln6)
	require.Equal(t, ln6.Addr().String(), d.RemoteAddr().String())
	require.Equal(t, d.LocalAddr().String(), a.RemoteAddr().String())
	require.NoError(t, ln6.Close())

	for _, bad := range []struct{ network, addr string }{
		{"udp", "127.0.0.1:0"},
		{"tcp6", "127.0.0.1:0"},
		{"tcp", "127.0.0.1"},
		{"tcp", "127.0.0.1:x"},
		{"tcp", "127.0.0.1:70000"},
		{"tcp", "no.such.host:0"},
		{"tcp4", "[::1]:0"},
	} {
		_, err := n.Listen(bad.network, bad.addr)
		var oe *net.OpError
		require.ErrorAs(t, err, &oe, "%v", bad)
		require.Equal(t, "listen", oe.Op)
	}
	_, err = n.Dial("udp", ln.Addr().String())
	requireOpErr(t, err, "dial", net.UnknownNetworkError("udp"))
}

// Each connection has its own dialler address; the dialler's remote address
// is the listener's; the accepted end sees the two swapped.
func TestAddressesUniqueAndSwapped(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	ln := listen(t, n)
	seen := map[string]bool{}
	for range 5 {
		d, a := connect(t, n, ln)
		for _, addr := range []net.Addr{d.LocalAddr(), d.RemoteAddr(), a.LocalAddr(), a.RemoteAddr()} {
			require.IsType(t, &net.TCPAddr{}, addr)
		}
		local := d.LocalAddr().(*net.TCPAddr)
		require.Equal(t, "127.0.0.1", local.IP.String())
		require.NotEqual(t, ln.Addr().(*net.TCPAddr).Port, local.Port)
		require.False(t, seen[local.String()], "dialler address %v reused", local)
		seen[local.String()] = true

		require.Equal(t, ln.Addr().String(), d.RemoteAddr().String())
		require.Equal(t, d.LocalAddr().String(), a.RemoteAddr().String())
		require.Equal(t, d.RemoteAddr().String(), a.LocalAddr().String())
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	_, err := n.Dial("tcp", "127.0.0.1:8883")
	requireOpErr(t, err, "dial", syscall.ECONNREFUSED)
	require.Contains(t, err.Error(), "connection refused")

	// The host does not matter, names included; a closed listener refuses.
	ln, err := n.Listen("tcp", "127.0.0.1:8883")
	require.NoError(t, err)
	c, err := n.Dial("tcp", "broker.example:8883")
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.NoError(t, ln.Close())
	_, err = n.Dial("tcp", "broker.example:8883")
	requireOpErr(t, err, "dial", syscall.ECONNREFUSED)

	// Networks are independent.
	ln = listen(t, n)
	_, err = memnet.New().Dial("tcp", ln.Addr().String())
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
}

func TestDialContextDone(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	ln := listen(t, n)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := n.DialContext(ctx, "tcp", ln.Addr().String())
	requireOpErr(t, err, "dial", context.Canceled)

	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	_, err = n.DialContext(ctx, "tcp", ln.Addr().String())
	requireOpErr(t, err, "dial", context.DeadlineExceeded)
}

func TestAddrInUse(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	ln, err := n.Listen("tcp", "127.0.0.1:8883")
	require.NoError(t, err)
	defer ln.Close()
	_, err = n.Listen("tcp", "127.0.0.1:8883")
	requireOpErr(t, err, "listen", syscall.EADDRINUSE)
	require.Contains(t, err.Error(), "address already in use")
	_, err = n.Listen("tcp", "0.0.0.0:8883") // one host: the port is taken on every address
	require.ErrorIs(t, err, syscall.EADDRINUSE)

	// Port 0 never picks a port in use, by a listener or a dialler.
	ports := map[int]bool{8883: true}
	for range 20 {
		l := listen(t, n)
		c, err := n.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		for _, p := range []int{l.Addr().(*net.TCPAddr).Port, c.LocalAddr().(*net.TCPAddr).Port} {
			require.False(t, ports[p], "port %d given twice", p)
			ports[p] = true
		}
	}
}

func TestRelistenAfterClose(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	first, err := n.Listen("tcp", "127.0.0.1:8883")
	require.NoError(t, err)
	require.NoError(t, first.Close())
	requireOpErr(t, first.Close(), "close", net.ErrClosed)

	second, err := n.Listen("tcp", "127.0.0.1:8883")
	require.NoError(t, err)
	defer second.Close()
	d, a := connect(t, n, second)
	write(t, d, "x")
	require.Equal(t, "x", readString(t, a, 1))
}

// Close is a FIN: the peer reads what was written, then io.EOF. The first
// peer write after it is discarded, later ones fail with EPIPE.
func TestFIN(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	d, a := connect(t, n, listen(t, n))

	write(t, a, "last words")
	require.NoError(t, a.Close())

	require.Equal(t, "last words", readString(t, d, 10))
	for range 2 {
		nr, err := d.Read(make([]byte, 8))
		require.Zero(t, nr)
		require.Equal(t, io.EOF, err) // bare, as the net package returns it
	}

	write(t, d, "into the void")
	_, err := d.Write([]byte("again"))
	requireOpErr(t, err, "write", syscall.EPIPE)
	_, err = d.Write([]byte("and again"))
	require.ErrorIs(t, err, syscall.EPIPE)
	_, err = d.Read(make([]byte, 8))
	require.Equal(t, io.EOF, err) // the FIN came first
}

// A blocked Read returns io.EOF when the peer closes.
func TestFINWakesRead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		d, a := connect(t, n, listen(t, n))
		errc := make(chan error, 1)
		go func() {
			_, err := d.Read(make([]byte, 8))
			errc <- err
		}()
		synctest.Wait() // the goroutine is blocked
		require.NoError(t, a.Close())
		require.Equal(t, io.EOF, <-errc)
	})
}

// SetLinger(0) then Close is a RST: the peer's Read fails with ECONNRESET at
// once, the data it had not read discarded; so do its writes.
func TestRST(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	d, a := connect(t, n, listen(t, n))

	write(t, a, "never read")
	require.NoError(t, a.(linger).SetLinger(0))
	require.NoError(t, a.Close())

	for range 2 {
		nr, err := d.Read(make([]byte, 64))
		require.Zero(t, nr)
		requireOpErr(t, err, "read", syscall.ECONNRESET)
		require.Contains(t, err.Error(), "connection reset by peer")
	}
	_, err := d.Write([]byte("x"))
	requireOpErr(t, err, "write", syscall.ECONNRESET)
	require.NoError(t, d.Close())
}

// A blocked Read returns ECONNRESET when the peer resets.
func TestRSTWakesRead(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		d, a := connect(t, n, listen(t, n))
		errc := make(chan error, 1)
		go func() {
			_, err := d.Read(make([]byte, 8))
			errc <- err
		}()
		synctest.Wait() // the goroutine is blocked
		require.NoError(t, a.(linger).SetLinger(0))
		require.NoError(t, a.Close())
		require.ErrorIs(t, <-errc, syscall.ECONNRESET)
	})
}

// A linger other than 0 leaves Close a FIN.
func TestLingerPositiveIsFIN(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	d, a := connect(t, n, listen(t, n))
	require.NoError(t, a.(linger).SetLinger(5))
	write(t, a, "data")
	require.NoError(t, a.Close())
	require.Equal(t, "data", readString(t, d, 4))
	_, err := d.Read(make([]byte, 1))
	require.Equal(t, io.EOF, err)
}

// After Close, the closer's own calls fail with net.ErrClosed, a blocked Read
// included.
func TestLocalClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		d, _ := connect(t, n, listen(t, n))
		errc := make(chan error, 1)
		go func() {
			_, err := d.Read(make([]byte, 8))
			errc <- err
		}()
		synctest.Wait() // the goroutine is blocked
		require.NoError(t, d.Close())

		err := <-errc
		requireOpErr(t, err, "read", net.ErrClosed)
		require.Contains(t, err.Error(), "use of closed network connection")
		_, err = d.Read(make([]byte, 8))
		requireOpErr(t, err, "read", net.ErrClosed)
		_, err = d.Write([]byte("x"))
		requireOpErr(t, err, "write", net.ErrClosed)
		requireOpErr(t, d.Close(), "close", net.ErrClosed)
		requireOpErr(t, d.SetDeadline(time.Now()), "set", net.ErrClosed)
		requireOpErr(t, d.SetReadDeadline(time.Now()), "set", net.ErrClosed)
		requireOpErr(t, d.SetWriteDeadline(time.Now()), "set", net.ErrClosed)
		requireOpErr(t, d.(linger).SetLinger(0), "set", net.ErrClosed)
	})
}

func TestReadDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		d, a := connect(t, n, listen(t, n))
		buf := make([]byte, 8)

		// In the past: fails at once, even with data waiting.
		write(t, a, "data")
		require.NoError(t, d.SetReadDeadline(time.Now().Add(-time.Second)))
		_, err := d.Read(buf)
		requireTimeout(t, err, "read")
		_, err = d.Read(buf)
		requireTimeout(t, err, "read")

		// Cleared: the data is still there.
		require.NoError(t, d.SetReadDeadline(time.Time{}))
		require.Equal(t, "data", readString(t, d, 4))

		// In the future: a blocked Read wakes when it passes.
		const wait = 50 * time.Millisecond
		start := time.Now()
		require.NoError(t, d.SetReadDeadline(start.Add(wait)))
		_, err = d.Read(buf)
		requireTimeout(t, err, "read")
		require.GreaterOrEqual(t, time.Since(start), wait)

		// Extended after it passed: Read works again, and waits for the new one.
		start = time.Now()
		require.NoError(t, d.SetReadDeadline(start.Add(wait)))
		require.NoError(t, d.SetReadDeadline(start.Add(4*wait))) // extended before it passed
		_, err = d.Read(buf)
		requireTimeout(t, err, "read")
		require.GreaterOrEqual(t, time.Since(start), 4*wait)

		// Moved into the past while Read is blocked: it wakes.
		require.NoError(t, d.SetReadDeadline(time.Time{}))
		errc := make(chan error, 1)
		go func() {
			_, err := d.Read(buf)
			errc <- err
		}()
		synctest.Wait() // the goroutine is blocked
		require.NoError(t, d.SetReadDeadline(time.Now().Add(-time.Second)))
		requireTimeout(t, <-errc, "read")

		// SetDeadline sets it too, and clears it.
		require.NoError(t, d.SetDeadline(time.Now().Add(-time.Second)))
		_, err = d.Read(buf)
		requireTimeout(t, err, "read")
		require.NoError(t, d.SetDeadline(time.Time{}))
		write(t, a, "more")
		require.Equal(t, "more", readString(t, d, 4))
	})
}

func TestWriteDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		d, a := connect(t, n, listen(t, n))

		require.NoError(t, d.SetWriteDeadline(time.Now().Add(-time.Second)))
		_, err := d.Write([]byte("x"))
		requireTimeout(t, err, "write")

		require.NoError(t, d.SetWriteDeadline(time.Time{}))
		write(t, d, "a")

		const wait = 50 * time.Millisecond
		require.NoError(t, d.SetWriteDeadline(time.Now().Add(wait)))
		write(t, d, "b") // before it passes
		time.Sleep(2 * wait)
		_, err = d.Write([]byte("x"))
		requireTimeout(t, err, "write")

		// Extended after it passed.
		require.NoError(t, d.SetWriteDeadline(time.Now().Add(time.Hour)))
		write(t, d, "c")
		require.Equal(t, "abc", readString(t, a, 3))

		// SetDeadline sets both.
		require.NoError(t, d.SetDeadline(time.Now().Add(-time.Second)))
		_, err = d.Write([]byte("x"))
		requireTimeout(t, err, "write")
		require.NoError(t, d.SetDeadline(time.Time{}))
		write(t, d, "d")
		require.Equal(t, "d", readString(t, a, 1))
	})
}

func pattern(size, seed int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + seed + i>>10)
	}
	return b
}

// Writes never block: 16 MiB written with nobody reading, then read back.
func TestWritesNeverBlock(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	d, a := connect(t, n, listen(t, n))
	const total, chunk = 16 << 20, 1 << 20
	want := pattern(total, 1)

	done := make(chan error, 1)
	go func() {
		for off := 0; off < total; off += chunk {
			nw, err := d.Write(want[off : off+chunk])
			if err != nil || nw != chunk {
				done <- fmt.Errorf("write at %d: %d, %v", off, nw, err)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("writes blocked")
	}

	got := make([]byte, total)
	_, err := io.ReadFull(a, got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got), "the bytes read back differ")
}

// Closing a listener resets the connections it had not accepted, and wakes
// a blocked Accept.
func TestListenerCloseResetsPending(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		ln := listen(t, n)
		accepted, _ := connect(t, n, ln)

		var pending []net.Conn
		for range 3 {
			c, err := n.Dial("tcp", ln.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			write(t, c, "hello?") // buffered for an Accept that never comes
			pending = append(pending, c)
		}

		l2 := listen(t, n)
		errc := make(chan error, 1)
		go func() {
			_, err := l2.Accept()
			errc <- err
		}()

		require.NoError(t, ln.Close())
		for _, c := range pending {
			_, err := c.Read(make([]byte, 8))
			requireOpErr(t, err, "read", syscall.ECONNRESET)
			_, err = c.Write([]byte("x"))
			require.ErrorIs(t, err, syscall.ECONNRESET)
		}
		_, err := ln.Accept()
		requireOpErr(t, err, "accept", net.ErrClosed)

		// An accepted connection lives on.
		write(t, accepted, "still here")

		synctest.Wait() // the goroutine is blocked
		require.NoError(t, l2.Close())
		requireOpErr(t, <-errc, "accept", net.ErrClosed)
	})
}

// A connection dialled and closed before it is accepted still delivers its
// data, then io.EOF.
func TestCloseBeforeAccept(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	ln := listen(t, n)
	d, err := n.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	write(t, d, "early")
	require.NoError(t, d.Close())
	a, err := ln.Accept()
	require.NoError(t, err)
	defer a.Close()
	require.Equal(t, "early", readString(t, a, 5))
	_, err = a.Read(make([]byte, 1))
	require.Equal(t, io.EOF, err)
}

// Several readers of one connection share the stream, none stuck.
func TestConcurrentReaders(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	d, a := connect(t, n, listen(t, n))
	const total = 1 << 20
	var mu sync.Mutex
	got := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			buf := make([]byte, 100)
			for {
				nr, err := a.Read(buf)
				mu.Lock()
				got += nr
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	for off := 0; off < total; off += 4096 {
		write(t, d, string(pattern(4096, off)))
	}
	require.NoError(t, d.Close())
	wg.Wait()
	require.Equal(t, total, got)
}

// Many connections at once, each echoed, while deadlines are set and
// listeners come and go: for the race detector.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	ln := listen(t, n)
	var servers sync.WaitGroup
	servers.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			servers.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})

	const conns, size = 32, 256 << 10
	var clients sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		clients.Go(func() {
			c, err := n.Dial("tcp", ln.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			want := pattern(size, i)
			var wg sync.WaitGroup
			wg.Go(func() { // writer
				for off := 0; off < size; {
					k := min(1+(off*31+i)%8000, size-off)
					if _, err := c.Write(want[off : off+k]); err != nil {
						errs <- err
						return
					}
					off += k
				}
			})
			wg.Go(func() { // deadline setter
				for range 100 {
					c.SetDeadline(time.Now().Add(time.Hour))
					c.SetWriteDeadline(time.Time{})
				}
			})
			got := make([]byte, size)
			if _, err := io.ReadFull(c, got); err != nil {
				errs <- err
			} else if !bytes.Equal(want, got) {
				errs <- fmt.Errorf("conn %d: echo differs", i)
			}
			wg.Wait()
		})
		clients.Go(func() { // listeners coming and going meanwhile
			l, err := n.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				errs <- err
				return
			}
			if c, err := n.Dial("tcp", l.Addr().String()); err == nil {
				c.Close()
			}
			l.Close()
		})
	}
	clients.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, ln.Close())
	servers.Wait()
}

// errors.Is on the error types the net package uses.
func TestErrorValues(t *testing.T) {
	t.Parallel()
	n := memnet.New()
	d, a := connect(t, n, listen(t, n))
	require.NoError(t, d.SetReadDeadline(time.Now()))
	_, err := d.Read(make([]byte, 1))
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout())
	require.Contains(t, err.Error(), "i/o timeout")
	require.Contains(t, err.Error(), d.LocalAddr().String()+"->"+a.LocalAddr().String())
}
