package memnet_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/internal/memnet"
)

// selfSigned makes a certificate for memnet.test valid around time.Now():
// in a bubble, that is 2000-01-01.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "memnet.test"},
		DNSNames:     []string{"memnet.test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// plainAndBubble runs f as a plain test and inside a synctest bubble.
func plainAndBubble(t *testing.T, f func(t *testing.T)) {
	t.Run("plain", f)
	t.Run("bubble", func(t *testing.T) { synctest.Test(t, f) })
}

// A TLS handshake and an echo exchange over the network.
func TestTLS(t *testing.T) {
	t.Parallel()
	plainAndBubble(t, func(t *testing.T) {
		cert, pool := selfSigned(t)
		n := memnet.New()
		raw, err := n.Listen("tcp", "127.0.0.1:8883")
		require.NoError(t, err)
		ln := tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{cert}})
		defer ln.Close()

		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { // echo server
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			io.Copy(c, c)
		})

		conn, err := n.Dial("tcp", "memnet.test:8883")
		require.NoError(t, err)
		c := tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "memnet.test"})
		defer c.Close()
		require.NoError(t, c.Handshake())
		require.True(t, c.ConnectionState().HandshakeComplete)

		msg := bytes.Repeat([]byte("over TLS in a bubble. "), 5000)
		_, err = c.Write(msg)
		require.NoError(t, err)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(c, got)
		require.NoError(t, err)
		require.Equal(t, msg, got)
		require.NoError(t, c.Close()) // close_notify: the server's Copy ends
	})
}

// Deadlines follow the fake clock exactly.
func TestBubbleDeadlineExact(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		ln, err := n.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		d, err := n.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		defer d.Close()

		start := time.Now()
		require.NoError(t, d.SetReadDeadline(start.Add(5*time.Second)))
		_, err = d.Read(make([]byte, 1))
		requireTimeout(t, err, "read")
		require.Equal(t, 5*time.Second, time.Since(start))

		// Extended while Read is blocked: it fires at the new time.
		start = time.Now()
		require.NoError(t, d.SetReadDeadline(start.Add(5*time.Second)))
		go func() {
			time.Sleep(2 * time.Second)
			d.SetReadDeadline(start.Add(10 * time.Second))
		}()
		_, err = d.Read(make([]byte, 1))
		requireTimeout(t, err, "read")
		require.Equal(t, 10*time.Second, time.Since(start))

		// Cleared while Read is blocked: data arriving later is read.
		start = time.Now()
		require.NoError(t, d.SetReadDeadline(start.Add(time.Second)))
		a, err := ln.Accept()
		require.NoError(t, err)
		defer a.Close()
		go func() {
			d.SetReadDeadline(time.Time{})
			time.Sleep(time.Minute)
			a.Write([]byte("x"))
		}()
		_, err = d.Read(make([]byte, 1))
		require.NoError(t, err)
		require.Equal(t, time.Minute, time.Since(start))

		// A write deadline: writes before it work, after it fail.
		start = time.Now()
		require.NoError(t, d.SetWriteDeadline(start.Add(3*time.Second)))
		time.Sleep(3*time.Second - time.Nanosecond)
		_, err = d.Write([]byte("y"))
		require.NoError(t, err)
		time.Sleep(time.Nanosecond)
		_, err = d.Write([]byte("z"))
		requireTimeout(t, err, "write")
	})
}

// A goroutine blocked in Read or Accept is durably blocked: synctest.Wait
// returns while they wait.
func TestBubbleDurablyBlocked(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		n := memnet.New()
		ln, err := n.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		d, err := n.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		a, err := ln.Accept()
		require.NoError(t, err)

		var read, accepted atomic.Value
		go func() {
			buf := make([]byte, 5)
			nr, err := d.Read(buf)
			read.Store(string(buf[:nr]) + "|" + errString(err))
		}()
		go func() {
			_, err := ln.Accept()
			accepted.Store(errString(err))
		}()

		synctest.Wait() // returns: both are durably blocked
		require.Nil(t, read.Load())
		require.Nil(t, accepted.Load())

		_, err = a.Write([]byte("hello"))
		require.NoError(t, err)
		synctest.Wait()
		require.Equal(t, "hello|", read.Load())
		require.Nil(t, accepted.Load())

		require.NoError(t, ln.Close())
		synctest.Wait()
		require.Contains(t, accepted.Load(), "use of closed network connection")
		d.Close()
		a.Close()
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Both ends write much more than a pipe would hold before either reads:
// with writes that wait for the reader (net.Pipe) both would block in Write
// for good; here the writes return.
func TestBothWriteBeforeReading(t *testing.T) {
	t.Parallel()
	plainAndBubble(t, func(t *testing.T) {
		n := memnet.New()
		ln, err := n.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		d, err := n.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		a, err := ln.Accept()
		require.NoError(t, err)

		const size, chunk = 2 << 20, 64 << 10
		var wrote, wg sync.WaitGroup
		wrote.Add(2)
		for i, c := range []net.Conn{d, a} {
			wg.Go(func() {
				want := pattern(size, i)
				for off := 0; off < size; off += chunk {
					if _, err := c.Write(want[off : off+chunk]); err != nil {
						t.Error(err)
					}
				}
				wrote.Done()
				wrote.Wait() // nobody has read yet
				got := make([]byte, size)
				if _, err := io.ReadFull(c, got); err != nil {
					t.Error(err)
				}
				if !bytes.Equal(pattern(size, 1-i), got) {
					t.Errorf("end %d read other bytes", i)
				}
			})
		}
		wg.Wait()
		d.Close()
		a.Close()
	})
}

// An http.Server serving on a listener answers an http.Client dialling
// through the network.
func TestHTTP(t *testing.T) {
	t.Parallel()
	plainAndBubble(t, func(t *testing.T) {
		n := memnet.New()
		ln, err := n.Listen("tcp", "127.0.0.1:8080")
		require.NoError(t, err)
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("hello from " + r.Host + " to " + r.RemoteAddr))
		})}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()

		tr := &http.Transport{DialContext: n.DialContext}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: time.Minute}
		for range 3 { // the second and third reuse the connection
			resp, err := client.Get("http://broker.test:8080/")
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Contains(t, string(body), "hello from broker.test:8080 to 127.0.0.1:")
		}

		require.NoError(t, srv.Shutdown(context.Background()))
		require.ErrorIs(t, <-served, http.ErrServerClosed)
	})
}

// gorilla/websocket over the network: an upgrade and an echo.
func TestWebSocket(t *testing.T) {
	t.Parallel()
	plainAndBubble(t, func(t *testing.T) {
		n := memnet.New()
		ln, err := n.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		up := websocket.Upgrader{}
		var handlers sync.WaitGroup
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			handlers.Add(1)
			defer handlers.Done()
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer ws.Close()
			for {
				mt, msg, err := ws.ReadMessage()
				if err != nil {
					return
				}
				if ws.WriteMessage(mt, msg) != nil {
					return
				}
			}
		})}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()

		dialer := websocket.Dialer{NetDialContext: n.DialContext}
		ws, resp, err := dialer.Dial("ws://"+ln.Addr().String()+"/mqtt", nil)
		require.NoError(t, err)
		resp.Body.Close()
		for _, msg := range []string{"one", "two", string(bytes.Repeat([]byte("x"), 100000))} {
			require.NoError(t, ws.WriteMessage(websocket.BinaryMessage, []byte(msg)))
			_, got, err := ws.ReadMessage()
			require.NoError(t, err)
			require.Equal(t, msg, string(got))
		}
		require.NoError(t, ws.Close())
		handlers.Wait() // hijacked connections are not the server's to close

		require.NoError(t, srv.Close())
		require.True(t, errors.Is(<-served, http.ErrServerClosed))
	})
}
