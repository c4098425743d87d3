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
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotmqtt/iotmqtt/certs"
	"github.com/iotmqtt/iotmqtt/internal/memnet"
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

// Broker is an in-process MQTT 3.1.1 broker (mochi) for tests and local
// runs. Its mutual-TLS listeners accept only client certificates issued by
// its CA. Every listener sits behind a fault Proxy, so links can be cut,
// refused and blackholed; protocol faults come from mochi hooks; Events
// records what the broker saw.
type Broker struct {
	// Events records everything the broker saw, in order, with times; it
	// keeps the latest DefaultEventLimit events (see WithEventLimit).
	Events *Recorder
	// CA issued the server certificate and is the only CA whose client
	// certificates are accepted.
	CA *certs.CA

	cfg        config
	net        network
	host       string // the host name clients use
	serverCert tls.Certificate
	serverTLS  *tls.Config
	device     *certs.KeyPair
	files      certs.DeviceFiles
	dir        string
	faults     faults
	listeners  map[string]*Listener // by name; fixed after start

	mu        sync.Mutex // guards srv, inboxes, closed, wsSecrets
	srv       *mqtt.Server
	attaching *attachGate // srv's
	inboxes   map[*Inbox]struct{}
	closed    bool
	wsSecrets map[string]string
	nextSub   atomic.Int64
	pub       *publisher
	shadow    *shadowService // the Device Shadow service; nil WithoutShadow
}

// StartTLS starts a broker with its mutual-TLS listener (and the others its
// options ask for) on 127.0.0.1, with fresh certificates unless WithCA is
// given. Close it when done. If setup fails, everything opened so far is
// closed again and the error says which step failed. In a test, NewTLS
// does the same and closes it when the test ends.
func StartTLS(opts ...Option) (*Broker, error) {
	aws := AWSIoTCore()
	cfg := config{thingName: DefaultThingName, logger: slog.New(slog.NewTextHandler(io.Discard, nil)), eventLimit: DefaultEventLimit, profile: &aws}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.profile != nil {
		p := cfg.profile.withDefaults()
		if err := p.Validate(); err != nil {
			return nil, err
		}
		cfg.profile = &p
	}
	b := &Broker{
		Events: NewRecorderWithLimit(cfg.eventLimit), cfg: cfg, net: tcpNetwork{}, host: "localhost",
		inboxes: make(map[*Inbox]struct{}), wsSecrets: cfg.webSocket, pub: newPublisher(),
		listeners: make(map[string]*Listener),
	}
	if cfg.memory {
		b.net = memnet.New()
	}
	if !cfg.noShadow {
		b.shadow = newShadowService(b, cfg.shadow)
	}
	for _, h := range cfg.hosts {
		if net.ParseIP(h) == nil {
			b.host = h
			break
		}
	}
	if err := b.start(); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// start makes the credentials, the listeners' proxies and the first mochi
// server.
func (b *Broker) start() error {
	if err := b.makeCredentials(); err != nil {
		return err
	}
	names := []string{ListenerMTLS}
	if b.cfg.alpn {
		names = append(names, ListenerALPN)
	}
	if b.cfg.plainTCP {
		names = append(names, ListenerTCP)
	}
	if b.cfg.webSocket != nil {
		names = append(names, ListenerWSS)
	}
	for _, name := range names {
		// The proxies start with no upstream; startServer gives them
		// theirs once the listeners are up.
		addr := b.cfg.addrs[name]
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		p, err := newProxy("", ProxyWithListenAddr(addr), ProxyWithRecorder(b.Events, name), proxyWithNetwork(b.net))
		if err != nil {
			return fmt.Errorf("broker: listener %s: %w", name, err)
		}
		b.listeners[name] = newListener(name, b.host, p)
	}
	srv, gate, err := b.startServer()
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.srv, b.attaching = srv, gate
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
	// The server certificate lasts as long as the CA, so a broker given a
	// long-lived CA (WithCA) can run as long as its devices' certificates.
	server, err := b.CA.IssueServer(b.cfg.hosts, certs.WithValidityPeriod(time.Now().Add(-time.Minute), b.CA.Cert.NotAfter))
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
func (b *Broker) startServer() (_ *mqtt.Server, _ *attachGate, err error) {
	var opened []func() error // closes what this call opened
	defer func() {
		if err != nil {
			for _, closeFn := range opened {
				closeFn()
			}
		}
	}()
	caps := mqtt.NewDefaultServerCapabilities()
	if p := b.cfg.profile; p != nil {
		p.setCapabilities(caps)
	}
	if b.cfg.capabilities != nil {
		b.cfg.capabilities(caps)
	}
	d := &drops{rec: b.Events, skipPayload: b.cfg.skipMessages, pub: b.pub}
	logger := slog.New(&dropLog{next: b.cfg.logger.Handler(), d: d})
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: logger, Capabilities: caps})
	gate := newAttachGate()
	d.srv = srv
	rh := &recordHook{rec: b.Events, drops: d, clientAddr: b.clientAddr, skipMessages: b.cfg.skipMessages}
	ch := &controlHook{srv: srv, faults: &b.faults, rec: b.Events, authorize: b.cfg.authorize}
	hooks := []mqtt.Hook{&keepaliveHook{profile: b.cfg.profile}, rh, ch}
	if p := b.cfg.profile; p != nil {
		// After the recorder, so it records a packet before the
		// profile closes the link for it.
		ch.profile = newProfileHook(p, srv, d, newConnectLimiter(p.scaled(p.ConnectInterval)),
			newLifecycle(p.LifecycleEvents, srv, b.clientAddr, p.scaled(p.SessionExpiry)), rh.refused)
		hooks = append(hooks, ch.profile)
	}
	if b.shadow != nil {
		hooks = append(hooks, &shadowHook{svc: b.shadow})
	}
	for _, h := range hooks {
		if err := srv.AddHook(h, nil); err != nil {
			return nil, nil, fmt.Errorf("broker: add hook: %w", err)
		}
	}
	upstreams := make(map[string]string) // listener name → where its proxy forwards
	for _, name := range b.listenerNames() {
		inner, err := b.net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("broker: listen: %w", err)
		}
		upstreams[name] = inner.Addr().String()
		var ml listeners.Listener
		switch name {
		case ListenerMTLS, ListenerALPN:
			cfg := b.serverTLS
			if p := b.cfg.profile; p != nil && p.RequireSNI {
				cfg = withRequiredSNI(cfg)
			}
			tl := newTLSListener(inner, cfg, b.Events, name, b.clientAddr)
			tl.customAuth = b.cfg.authorize != nil
			tl.requireALPN = name == ListenerALPN
			opened = append(opened, tl.Close)
			ml = listeners.NewNet(name, keepaliveListener{tl, b.cfg.profile, gate})
		case ListenerTCP:
			opened = append(opened, inner.Close)
			ml = listeners.NewNet(name, keepaliveListener{inner, b.cfg.profile, gate})
		case ListenerWSS:
			ws := newWSListener(b, inner, b.serverCert, gate)
			opened = append(opened, ws.ln.Close)
			ml = ws
		}
		if err := srv.AddListener(ml); err != nil {
			return nil, nil, fmt.Errorf("broker: add listener %s: %w", name, err)
		}
	}
	if err := srv.Serve(); err != nil {
		return nil, nil, fmt.Errorf("broker: serve: %w", err)
	}
	for name, up := range upstreams {
		b.listeners[name].Proxy.SetUpstream(up)
	}
	return srv, gate, nil
}

// listenerNames returns the names of the broker's listeners, in a fixed
// order.
func (b *Broker) listenerNames() []string {
	var names []string
	for _, name := range []string{ListenerMTLS, ListenerALPN, ListenerTCP, ListenerWSS} {
		if b.listeners[name] != nil {
			names = append(names, name)
		}
	}
	return names
}

// stopServer closes a mochi server once its clients are gone and the
// connections handed to it are attached (gate), guarding against mochi's
// known shutdown hangs.
func stopServer(srv *mqtt.Server, gate *attachGate) error {
	deadline := time.Now().Add(stopTimeout)
	for atomic.LoadInt64(&srv.Info.ClientsConnected) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // bounded by stopTimeout
	}
	gate.close(time.Until(deadline))
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

// proxies returns the listeners' proxies.
func (b *Broker) proxies() []*Proxy {
	var ps []*Proxy
	for _, name := range b.listenerNames() {
		ps = append(ps, b.listeners[name].Proxy)
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

// MTLS returns the mutual-TLS listener (AWS IoT's port 8883), which always
// runs.
func (b *Broker) MTLS() *Listener { return b.listeners[ListenerMTLS] }

// ALPN returns the listener of AWS IoT's port 443 (mutual TLS requiring
// ALPN), or nil without WithALPN.
func (b *Broker) ALPN() *Listener { return b.listeners[ListenerALPN] }

// TCP returns the plain MQTT listener, or nil without WithPlainTCP.
func (b *Broker) TCP() *Listener { return b.listeners[ListenerTCP] }

// WebSocket returns the WebSocket listener, or nil without WithWebSocket.
func (b *Broker) WebSocket() *Listener { return b.listeners[ListenerWSS] }

// Listeners returns every listener the broker runs.
func (b *Broker) Listeners() []*Listener {
	var ls []*Listener
	for _, name := range b.listenerNames() {
		ls = append(ls, b.listeners[name])
	}
	return ls
}

// SetWebSocketCredentials replaces the credentials (access key id → secret
// access key) whose signatures the WebSocket listener accepts.
func (b *Broker) SetWebSocketCredentials(credentials map[string]string) {
	b.Events.add(Event{Kind: KindFault, Fault: FaultWebSocketCredentials, Detail: fmt.Sprintf("WebSocket credentials: %d key(s)", len(credentials))})
	b.mu.Lock()
	b.wsSecrets = maps.Clone(credentials)
	b.mu.Unlock()
}

func (b *Broker) webSocketSecrets() map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wsSecrets
}

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
		ServerName:   b.host,
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
	var cut []*link
	for _, p := range b.proxies() {
		cut = append(cut, p.linksWhere(func(*link) bool { return true })...)
	}
	b.Events.add(Event{Kind: KindFault, Fault: FaultCut, Detail: fmt.Sprintf("cut %d link(s) with %v", len(cut), mode)})
	closeLinks(cut, mode)
	return len(cut)
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
	b.Events.add(Event{Kind: KindFault, Fault: FaultCut, ClientID: clientID, Detail: "cut client link with " + mode.String()})
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
	b.Events.add(Event{Kind: KindFault, Fault: FaultDisconnect, ClientID: clientID, Detail: "disconnect client"})
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

// Restart replaces the mochi server with a fresh one, as a broker restart
// would: every link is cut, every session and retained message is lost, and
// the ports stay the same. Inline subscriptions (Subscribe) are carried over.
func (b *Broker) Restart() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("broker: restart: closed")
	}
	b.Events.add(Event{Kind: KindFault, Fault: FaultRestart, Detail: "restart"})
	old, oldGate := b.srv, b.attaching
	srv, gate, err := b.startServer() // proxies now send new links to srv
	if err != nil {
		return err
	}
	b.srv, b.attaching = srv, gate
	for in := range b.inboxes {
		if err := in.subscribe(srv); err != nil {
			return err
		}
	}
	for _, p := range b.proxies() {
		closeLinks(p.linksWhere(func(*link) bool { return true }), FIN)
	}
	return stopServer(old, oldGate)
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
	srv, gate := b.srv, b.attaching
	inboxes := b.inboxes
	b.inboxes = nil
	b.mu.Unlock()

	for _, l := range b.listeners {
		l.Proxy.Close()
	}
	b.shadow.close()
	b.pub.wg.Wait() // with every link closed, no publish is blocked
	var err error
	if srv != nil {
		err = stopServer(srv, gate)
	}
	for in := range inboxes {
		in.close()
	}
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
	return err
}
