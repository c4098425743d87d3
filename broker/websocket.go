package broker

import (
	"bufio"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/iotmqtt/iotmqtt/internal/wsconn"
)

// wsListener is a mochi listener for MQTT over WebSocket with TLS, as AWS
// IoT serves on port 443 at /mqtt: every upgrade request must carry a valid
// SigV4 presigned query, or it is refused with HTTP 403. (mochi's own
// WebSocket listener cannot report an ephemeral port, cannot see the
// upgrade request and answers in the header spelling the Python SDK
// rejects.)
type wsListener struct {
	ln   *tlsListener
	srv  *http.Server
	b    *Broker
	gate *attachGate

	mu        sync.Mutex // guards establish, closed, and sessions.Add
	establish listeners.EstablishFn
	closed    bool
	sessions  sync.WaitGroup
}

// newWSListener listens on raw. TLS handshakes are completed by a
// tlsListener, which records refused ones, before the HTTP server sees the
// connection; the server's own error log goes to the broker's logger, not
// to the process's stderr.
func newWSListener(b *Broker, raw net.Listener, serverCert tls.Certificate, gate *attachGate) *wsListener {
	cfg := &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
	if p := b.cfg.profile; p != nil && p.RequireSNI {
		cfg = withRequiredSNI(cfg)
	}
	l := &wsListener{b: b, gate: gate, ln: newTLSListener(raw, cfg, b.Events, ListenerWSS, b.clientAddr)}
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(l.upgrade),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(b.cfg.logger.Handler(), slog.LevelWarn),
	}
	return l
}

func (l *wsListener) ID() string              { return ListenerWSS }
func (l *wsListener) Address() string         { return l.ln.Addr().String() }
func (l *wsListener) Protocol() string        { return "wss" }
func (l *wsListener) Init(*slog.Logger) error { return nil }

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	l.establish = establish
	l.mu.Unlock()
	_ = l.srv.Serve(l.ln) // returns when closed
}

func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	closeClients(ListenerWSS)
	_ = l.srv.Close()
	l.sessions.Wait()
}

var upgrader = websocket.Upgrader{
	Subprotocols:    []string{"mqtt", "mqttv3.1"},
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  4096,
	WriteBufferSize: 4096,
}

// upgrade verifies the presigned URL, records the request, and hands the
// WebSocket to mochi for the session's life.
func (l *wsListener) upgrade(w http.ResponseWriter, r *http.Request) {
	ev := Event{Kind: KindUpgrade, Listener: ListenerWSS, Remote: l.b.clientAddr(r.RemoteAddr), Detail: r.URL.RequestURI()}
	if err := verifyPresigned(r, l.b.webSocketSecrets(), time.Now()); err != nil {
		ev.HTTPStatus, ev.Cause = http.StatusForbidden, err.Error()
		l.b.Events.add(ev)
		http.Error(w, "Forbidden: "+err.Error(), http.StatusForbidden)
		return
	}
	key := r.Header.Get("Sec-Websocket-Key")
	if !validKey(key) {
		// The Python SDK sends a 172-character key; answer it anyway.
		r.Header.Set("Sec-Websocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	ws, err := upgrader.Upgrade(&lowercaseHandshake{ResponseWriter: w, key: key}, r, nil)
	if err != nil {
		ev.HTTPStatus, ev.Cause = http.StatusBadRequest, err.Error()
		l.b.Events.add(ev)
		return
	}
	ev.HTTPStatus = http.StatusSwitchingProtocols
	l.b.Events.add(ev)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		ws.Close()
		return
	}
	establish := l.establish
	l.sessions.Add(1)
	l.mu.Unlock()
	defer l.sessions.Done()
	accessKey, _, _ := strings.Cut(r.URL.Query().Get("X-Amz-Credential"), "/")
	kc, ok := newKeepaliveConn(&signedConn{Conn: profiledConn(wsconn.New(ws), l.b.cfg.profile), accessKey: accessKey}, l.gate)
	if !ok {
		ws.Close()
		return
	}
	_ = establish(ListenerWSS, kc)
}

// signedConn is a WebSocket connection whose upgrade request accessKey
// signed (AWS's principal for the lifecycle events).
type signedConn struct {
	net.Conn
	accessKey string
}

// Underlying returns the WebSocket connection.
func (c *signedConn) Underlying() net.Conn { return c.Conn }

func validKey(k string) bool {
	b, err := base64.StdEncoding.DecodeString(k)
	return err == nil && len(b) == 16
}

// acceptKey is the Sec-WebSocket-Accept value for a client's key (RFC 6455).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// lowercaseHandshake makes the 101 response spell its header names in lower
// case ("sec-websocket-accept: ", exactly, is what the Python SDK's client
// looks for) and carry the accept value for the client's own key.
type lowercaseHandshake struct {
	http.ResponseWriter
	key string
}

func (h *lowercaseHandshake) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := h.ResponseWriter.(http.Hijacker).Hijack()
	if err != nil {
		return nil, nil, err
	}
	return &handshakeRewriter{Conn: c, key: h.key}, brw, nil
}

// handshakeRewriter rewrites the first write on the connection: the
// upgrade response.
type handshakeRewriter struct {
	net.Conn
	key  string
	done bool
}

// Underlying returns the connection under the rewriter.
func (c *handshakeRewriter) Underlying() net.Conn { return c.Conn }

func (c *handshakeRewriter) Write(p []byte) (int, error) {
	if c.done {
		return c.Conn.Write(p)
	}
	c.done = true
	head, rest, _ := strings.Cut(string(p), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	for i := 1; i < len(lines); i++ {
		name, value, ok := strings.Cut(lines[i], ":")
		if !ok {
			continue
		}
		name = strings.ToLower(name)
		if name == "sec-websocket-accept" {
			value = " " + acceptKey(c.key)
		}
		lines[i] = name + ":" + value
	}
	if _, err := c.Conn.Write([]byte(strings.Join(lines, "\r\n") + "\r\n\r\n" + rest)); err != nil {
		return 0, err
	}
	return len(p), nil
}
