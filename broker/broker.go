package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotmqtt/iotmqtt/certs"
)

// Listener names, as they appear in Event.Listener.
const (
	ListenerMTLS = "mtls"
	ListenerTCP  = "tcp"
)

// ALPNMQTTCA is the TLS application protocol AWS IoT expects for MQTT with
// client certificates on port 443.
const ALPNMQTTCA = "x-amzn-mqtt-ca"

// ALPNMQTT is the TLS application protocol AWS IoT expects for MQTT with a
// custom authorizer (user name and password, no client certificate) on 443.
const ALPNMQTT = "mqtt"

// DefaultThingName is the name (client certificate common name and file
// prefix) of the ready-made device credentials.
const DefaultThingName = "iotmqtt-device"

// stopTimeout bounds the shutdown of one mochi server.
const stopTimeout = 5 * time.Second

type config struct {
	ca           *certs.CA
	hosts        []string
	plainTCP     bool
	webSocket    map[string]string // access key id → secret; nil: no wss listener
	authorize    func(username, password string) bool
	logger       *slog.Logger
	thingName    string
	capabilities func(*mqtt.Capabilities)
	skipMessages bool
	eventLimit   int
}

// Option configures a Broker.
type Option func(*config)

// WithCA uses ca instead of a freshly generated CA.
func WithCA(ca *certs.CA) Option { return func(c *config) { c.ca = ca } }

// WithHosts sets the names and addresses in the server certificate (default
// "localhost" and 127.0.0.1).
func WithHosts(hosts ...string) Option { return func(c *config) { c.hosts = hosts } }

// WithPlainTCP also starts a plain (no TLS) MQTT listener, see TCPAddr.
func WithPlainTCP() Option { return func(c *config) { c.plainTCP = true } }

// WithWebSocket also starts a WebSocket listener (wss, path /mqtt as on AWS
// IoT, see WSSAddr) that accepts upgrade requests presigned with SigV4 by
// one of these credentials (access key id → secret access key), for the
// service iotdevicegateway or iotdata, and refuses others with HTTP 403.
func WithWebSocket(credentials map[string]string) Option {
	return func(c *config) { c.webSocket = maps.Clone(credentials) }
}

// WithCustomAuthorizer lets clients without a certificate connect to the
// mutual-TLS listener if they negotiate ALPN "mqtt" (AWS IoT's custom
// authentication on port 443) and authorize accepts their MQTT user name
// and password; refused ones get CONNACK return code 5.
func WithCustomAuthorizer(authorize func(username, password string) bool) Option {
	return func(c *config) { c.authorize = authorize }
}

// WithoutMessageRecording keeps PUBLISH, PUBACK and deliveries out of the
// recorder, for throughput runs where recording every message would cost
// more than the broker itself. Connection life is still recorded, and so
// are DROPPED messages, without their payloads.
func WithoutMessageRecording() Option { return func(c *config) { c.skipMessages = true } }

// WithEventLimit makes the recorder (Broker.Events) keep the latest limit
// events instead of DefaultEventLimit; 0 keeps every event.
func WithEventLimit(limit int) Option { return func(c *config) { c.eventLimit = limit } }

// WithLogger sends mochi's log to l (default: discarded).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithThingName names the ready-made device credentials (default
// DefaultThingName).
func WithThingName(name string) Option { return func(c *config) { c.thingName = name } }

// WithCapabilities adjusts mochi's capabilities (packet size limit, session
// expiry, …) before the broker starts, and again on every Restart.
func WithCapabilities(fn func(*mqtt.Capabilities)) Option {
	return func(c *config) { c.capabilities = fn }
}

// Broker is an in-process MQTT 3.1.1 broker (mochi) for tests and local
// runs. Its mutual-TLS listener accepts only client certificates issued by
// its CA and negotiates ALPN x-amzn-mqtt-ca as AWS IoT does on port 443.
// Every listener sits behind a fault Proxy, so links can be cut, refused and
// blackholed; protocol faults come from mochi hooks; Events records what the
// broker saw.
type Broker struct {
	// Events records everything the broker saw, in order, with times; it
	// keeps the latest DefaultEventLimit events (see WithEventLimit).
	Events *Recorder
	// CA issued the server certificate and is the only CA whose client
	// certificates are accepted.
	CA *certs.CA

	cfg            config
	serverCert     tls.Certificate
	serverTLS      *tls.Config
	device         *certs.KeyPair
	files          certs.DeviceFiles
	dir            string
	faults         faults
	mtls, tcp, wss *Proxy

	mu        sync.Mutex // guards srv, inboxes, closed, wsSecrets
	srv       *mqtt.Server
	inboxes   map[*Inbox]struct{}
	closed    bool
	wsSecrets map[string]string
	nextSub   atomic.Int64
	pub       *publisher
}

// Start starts a broker on 127.0.0.1 with fresh certificates (unless WithCA
// is given). Close it when done. If setup fails, everything opened so far
// is closed again and the error says which step failed.
func Start(opts ...Option) (*Broker, error) {
	cfg := config{thingName: DefaultThingName, logger: slog.New(slog.NewTextHandler(io.Discard, nil)), eventLimit: DefaultEventLimit}
	for _, o := range opts {
		o(&cfg)
	}
	b := &Broker{
		Events: NewRecorderWithLimit(cfg.eventLimit), cfg: cfg, inboxes: make(map[*Inbox]struct{}),
		wsSecrets: cfg.webSocket, pub: newPublisher(),
	}
	if err := b.start(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// start makes the credentials, the proxies and the first mochi server.
func (b *Broker) start() error {
	if err := b.makeCredentials(); err != nil {
		return err
	}
	// The proxies start pointing nowhere; startServer gives them their
	// upstream before anything can connect to them meaningfully.
	var err error
	if b.mtls, err = NewProxy("127.0.0.1:0", ProxyRecorder(b.Events, ListenerMTLS)); err != nil {
		return err
	}
	if b.cfg.plainTCP {
		if b.tcp, err = NewProxy("127.0.0.1:0", ProxyRecorder(b.Events, ListenerTCP)); err != nil {
			return err
		}
	}
	if b.cfg.webSocket != nil {
		if b.wss, err = NewProxy("127.0.0.1:0", ProxyRecorder(b.Events, ListenerWSS)); err != nil {
			return err
		}
	}
	srv, err := b.startServer()
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
	return nil
}

func (b *Broker) makeCredentials() error {
	if b.CA = b.cfg.ca; b.CA == nil {
		ca, err := certs.NewCA()
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		b.CA = ca
	}
	server, err := b.CA.IssueServer(b.cfg.hosts)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.serverCert = server.TLSCertificate()
	b.serverTLS = &tls.Config{
		Certificates: []tls.Certificate{b.serverCert},
		ClientCAs:    b.CA.CertPool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{ALPNMQTTCA},
		MinVersion:   tls.VersionTLS12,
	}
	if b.cfg.authorize != nil {
		b.serverTLS.ClientAuth = tls.VerifyClientCertIfGiven
		b.serverTLS.NextProtos = append(b.serverTLS.NextProtos, ALPNMQTT)
	}
	if b.device, err = b.CA.IssueClient(b.cfg.thingName); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if b.dir, err = os.MkdirTemp("", "iotmqtt-broker-"); err != nil {
		return fmt.Errorf("broker: credentials directory: %w", err)
	}
	if b.files, err = certs.WriteDeviceFiles(b.dir, b.cfg.thingName, b.CA, b.device); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
}

// startServer starts a mochi server on fresh internal ports and points the
// proxies at it. If it fails, it closes every listener it opened.
func (b *Broker) startServer() (_ *mqtt.Server, err error) {
	var opened []func() error // closes what this call opened
	defer func() {
		if err != nil {
			for _, closeFn := range opened {
				closeFn()
			}
		}
	}()
	caps := mqtt.NewDefaultServerCapabilities()
	if b.cfg.capabilities != nil {
		b.cfg.capabilities(caps)
	}
	d := &drops{rec: b.Events, skipPayload: b.cfg.skipMessages, pub: b.pub}
	logger := slog.New(&dropLog{next: b.cfg.logger.Handler(), d: d})
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: logger, Capabilities: caps})
	d.srv = srv
	if err := srv.AddHook(&keepaliveHook{}, nil); err != nil {
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	if err := srv.AddHook(&recordHook{rec: b.Events, drops: d, clientAddr: b.clientAddr, skipMessages: b.cfg.skipMessages}, nil); err != nil {
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	if err := srv.AddHook(&controlHook{srv: srv, faults: &b.faults, rec: b.Events, authorize: b.cfg.authorize}, nil); err != nil {
		return nil, fmt.Errorf("broker: add hook: %w", err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("broker: listen: %w", err)
	}
	tl := newTLSListener(inner, b.serverTLS, b.Events, ListenerMTLS, b.clientAddr)
	opened = append(opened, tl.Close)
	tl.customAuth = b.cfg.authorize != nil
	if err := srv.AddListener(listeners.NewNet(ListenerMTLS, keepaliveListener{tl})); err != nil {
		return nil, fmt.Errorf("broker: add listener: %w", err)
	}
	var plain net.Listener
	if b.tcp != nil {
		if plain, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("broker: listen: %w", err)
		}
		opened = append(opened, plain.Close)
		if err := srv.AddListener(listeners.NewNet(ListenerTCP, keepaliveListener{plain})); err != nil {
			return nil, fmt.Errorf("broker: add listener: %w", err)
		}
	}
	var ws *wsListener
	if b.wss != nil {
		if ws, err = newWSListener(b, b.serverCert); err != nil {
			return nil, err
		}
		opened = append(opened, ws.ln.Close)
		if err := srv.AddListener(ws); err != nil {
			return nil, fmt.Errorf("broker: add listener: %w", err)
		}
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	b.mtls.SetUpstream(tl.Addr().String())
	if plain != nil {
		b.tcp.SetUpstream(plain.Addr().String())
	}
	if ws != nil {
		b.wss.SetUpstream(ws.Address())
	}
	return srv, nil
}

// stopServer closes a mochi server once its clients are gone, guarding
// against mochi's known shutdown hangs.
func stopServer(srv *mqtt.Server) error {
	deadline := time.Now().Add(stopTimeout)
	for atomic.LoadInt64(&srv.Info.ClientsConnected) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // bounded by stopTimeout
	}
	done := make(chan struct{})
	go func() {
		srv.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(time.Until(deadline) + time.Second):
		return errors.New("broker: mochi server did not stop in time")
	}
}

func (b *Broker) proxies() []*Proxy {
	var ps []*Proxy
	for _, p := range []*Proxy{b.mtls, b.tcp, b.wss} {
		if p != nil {
			ps = append(ps, p)
		}
	}
	return ps
}

// clientAddr maps the address mochi sees (a proxy's upstream socket) to the
// client's own address.
func (b *Broker) clientAddr(upstreamSide string) string {
	for _, p := range b.proxies() {
		if a := p.clientAddr(upstreamSide); a != "" {
			return a
		}
	}
	return upstreamSide
}

// Host returns the host clients connect to: "127.0.0.1".
func (b *Broker) Host() string { h, _, _ := net.SplitHostPort(b.mtls.Addr()); return h }

// Port returns the mutual-TLS port.
func (b *Broker) Port() int {
	_, p, _ := net.SplitHostPort(b.mtls.Addr())
	n, _ := strconv.Atoi(p)
	return n
}

// Addr returns the mutual-TLS address, "127.0.0.1:port".
func (b *Broker) Addr() string { return b.mtls.Addr() }

// TCPAddr returns the plain-TCP address, or "" unless WithPlainTCP was given.
func (b *Broker) TCPAddr() string {
	if b.tcp == nil {
		return ""
	}
	return b.tcp.Addr()
}

// WSSAddr returns the WebSocket (wss) address, or "" unless WithWebSocket
// was given. Clients connect to wss://localhost:port/mqtt (the server
// certificate covers localhost and 127.0.0.1).
func (b *Broker) WSSAddr() string {
	if b.wss == nil {
		return ""
	}
	return b.wss.Addr()
}

// WSSProxy returns the fault proxy in front of the WebSocket listener, or nil.
func (b *Broker) WSSProxy() *Proxy { return b.wss }

// SetWebSocketCredentials replaces the credentials (access key id → secret
// access key) whose signatures the WebSocket listener accepts.
func (b *Broker) SetWebSocketCredentials(credentials map[string]string) {
	b.Events.add(Event{Kind: KindFault, Detail: fmt.Sprintf("WebSocket credentials: %d key(s)", len(credentials))})
	b.mu.Lock()
	b.wsSecrets = maps.Clone(credentials)
	b.mu.Unlock()
}

func (b *Broker) webSocketSecrets() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wsSecrets
}

// MTLSProxy returns the fault proxy in front of the mutual-TLS listener.
func (b *Broker) MTLSProxy() *Proxy { return b.mtls }

// TCPProxy returns the fault proxy in front of the plain listener, or nil.
func (b *Broker) TCPProxy() *Proxy { return b.tcp }

// ClientFiles returns the ready-made device credentials as files (root CA,
// certificate, private key), named as in AWS's device kit.
func (b *Broker) ClientFiles() certs.DeviceFiles { return b.files }

// ClientCertificate returns the ready-made device certificate and key.
func (b *Broker) ClientCertificate() *certs.KeyPair { return b.device }

// ClientTLSConfig returns a client TLS configuration that trusts only the
// broker's CA and presents the ready-made device certificate.
func (b *Broker) ClientTLSConfig() *tls.Config {
	return &tls.Config{
		RootCAs:      b.CA.CertPool(),
		Certificates: []tls.Certificate{b.device.TLSCertificate()},
		ServerName:   b.Host(),
		MinVersion:   tls.VersionTLS12,
	}
}

// Mochi returns the running mochi server (it changes on Restart).
func (b *Broker) Mochi() *mqtt.Server {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.srv
}

// CutLinks closes every client connection on every listener and returns how
// many it closed; the listeners keep accepting.
func (b *Broker) CutLinks(mode CutMode) int {
	n := 0
	for _, p := range b.proxies() {
		n += p.CutLinks(mode)
	}
	return n
}

// CutClient closes the connection of one client, found by client id.
func (b *Broker) CutClient(clientID string, mode CutMode) error {
	cl, ok := b.Mochi().Clients.Get(clientID)
	if !ok || cl.Closed() {
		return fmt.Errorf("broker: cut client %q: not connected", clientID)
	}
	var links []*link
	for _, p := range b.proxies() {
		links = append(links, p.linksByUpstreamLocal(cl.Net.Remote)...)
	}
	if len(links) == 0 {
		return fmt.Errorf("broker: cut client %q: no link from %s", clientID, cl.Net.Remote)
	}
	b.Events.add(Event{Kind: KindFault, ClientID: clientID, Detail: "cut client link with " + mode.String()})
	closeLinks(links, mode)
	return nil
}

// CauseClosedByBroker is the Cause of the DISCONNECT event of a session
// that DisconnectClient ended.
const CauseClosedByBroker = "broker closed the session"

// errClosedByBroker is the stop cause DisconnectClient gives mochi.
var errClosedByBroker = errors.New(CauseClosedByBroker)

// DisconnectClient ends one client's session from the broker side. An MQTT
// 3.1.1 client's connection is closed without a packet (3.1.1 defines no
// server DISCONNECT; AWS IoT just closes); an MQTT 5 client first gets a
// DISCONNECT with reason 0x8B (server shutting down).
func (b *Broker) DisconnectClient(clientID string) error {
	cl, ok := b.Mochi().Clients.Get(clientID)
	if !ok || cl.Closed() {
		return fmt.Errorf("broker: disconnect client %q: not connected", clientID)
	}
	b.Events.add(Event{Kind: KindFault, ClientID: clientID, Detail: "disconnect client"})
	if cl.Properties.ProtocolVersion == 5 {
		code := packets.ErrServerShuttingDown
		// Best effort, as in mochi's own DisconnectClient: the link is
		// closed next either way.
		_ = cl.WritePacket(packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
			ReasonCode:  code.Code,
			Properties:  packets.Properties{ReasonString: code.Reason},
		})
	}
	cl.Stop(errClosedByBroker)
	return nil
}

// Refuse makes new connections fail with ECONNREFUSED on every listener,
// until Accept.
func (b *Broker) Refuse() {
	for _, p := range b.proxies() {
		p.Refuse()
	}
}

// Accept ends Refuse: the same ports accept again.
func (b *Broker) Accept() error {
	for _, p := range b.proxies() {
		if err := p.Accept(); err != nil {
			return err
		}
	}
	return nil
}

// HangUp makes every listener close new connections right after accepting
// them, while on is true (see Proxy.HangUp).
func (b *Broker) HangUp(on bool) {
	for _, p := range b.proxies() {
		p.HangUp(on)
	}
}

// Blackhole holds all traffic on every link without closing anything, until
// Restore.
func (b *Broker) Blackhole() {
	for _, p := range b.proxies() {
		p.Blackhole()
	}
}

// Restore ends Blackhole; held bytes are delivered.
func (b *Broker) Restore() {
	for _, p := range b.proxies() {
		p.Restore()
	}
}

// RejectConnect makes the broker answer every CONNECT with a CONNACK carrying
// the MQTT 3.1.1 return code rc (1–5) and close the connection, until
// AllowConnect.
func (b *Broker) RejectConnect(rc byte) error {
	if _, ok := v3Refusals[rc]; !ok {
		return fmt.Errorf("broker: reject connect: return code %d is not an MQTT 3.1.1 refusal (1-5)", rc)
	}
	b.Events.add(Event{Kind: KindFault, Detail: "reject CONNECT with rc " + describeRefusal(rc)})
	b.faults.connackCode.Store(uint32(rc))
	return nil
}

// AllowConnect ends RejectConnect.
func (b *Broker) AllowConnect() {
	b.Events.add(Event{Kind: KindFault, Detail: "allow CONNECT"})
	b.faults.connackCode.Store(0)
}

// WithholdPuback makes the broker drop client PUBLISH packets without
// PUBACK and without delivery (on true), or behave normally (on false).
func (b *Broker) WithholdPuback(on bool) {
	b.Events.add(Event{Kind: KindFault, Detail: fmt.Sprintf("withhold PUBACK: %v", on)})
	b.faults.withholdPuback.Store(on)
}

// AckWithoutDelivery makes the broker acknowledge client PUBLISH packets but
// deliver them to nobody (on true), or behave normally (on false).
func (b *Broker) AckWithoutDelivery(on bool) {
	b.Events.add(Event{Kind: KindFault, Detail: fmt.Sprintf("PUBACK without delivery: %v", on)})
	b.faults.ackNoDelivery.Store(on)
}

// RefuseSubscription makes the broker refuse SUBSCRIBE requests for filter
// (SUBACK 0x80) while refuse is true.
func (b *Broker) RefuseSubscription(filter string, refuse bool) {
	b.Events.add(Event{Kind: KindFault, Detail: fmt.Sprintf("refuse subscription to %q: %v", filter, refuse)})
	b.faults.refuseSubscription(filter, refuse)
}

// Restart replaces the mochi server with a fresh one, as a broker restart
// would: every link is cut, every session and retained message is lost, and
// the ports stay the same. Inline subscriptions (Subscribe) are carried over.
func (b *Broker) Restart() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("broker: restart: closed")
	}
	b.Events.add(Event{Kind: KindFault, Detail: "restart"})
	old := b.srv
	srv, err := b.startServer() // proxies now send new links to srv
	if err != nil {
		return err
	}
	b.srv = srv
	for in := range b.inboxes {
		if err := in.subscribe(srv); err != nil {
			return err
		}
	}
	for _, p := range b.proxies() {
		closeLinks(p.linksWhere(func(*link) bool { return true }), FIN)
	}
	return stopServer(old)
}

// Close stops the broker: it closes the proxies and their links, stops mochi
// and waits for every goroutine, then deletes the credential files. It is
// safe to call more than once.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	srv := b.srv
	inboxes := b.inboxes
	b.inboxes = nil
	b.mu.Unlock()

	for _, p := range []*Proxy{b.mtls, b.tcp, b.wss} {
		if p != nil {
			p.Close()
		}
	}
	b.pub.wg.Wait() // with every link closed, no publish is blocked
	var err error
	if srv != nil {
		err = stopServer(srv)
	}
	for in := range inboxes {
		in.close()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
	return err
}
