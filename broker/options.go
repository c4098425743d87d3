package broker

import (
	"log/slog"
	"maps"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/iotmqtt/iotmqtt/certs"
)

type config struct {
	ca           *certs.CA
	hosts        []string
	addrs        map[string]string // listener name → the address its proxy listens on
	alpn         bool
	plainTCP     bool
	webSocket    map[string]string // access key id → secret; nil: no wss listener
	authorize    func(username, password string) bool
	logger       *slog.Logger
	thingName    string
	capabilities func(*mqtt.Capabilities)
	skipMessages bool
	eventLimit   int
	memory       bool
	profile      *Profile      // nil: plain MQTT
	shadow       ShadowOptions // the Device Shadow service (shadow_options.go)
	noShadow     bool
}

// Option configures a Broker.
type Option func(*config)

// WithListenAddr sets the address a listener's proxy listens on — where
// clients connect — instead of an ephemeral loopback port (127.0.0.1:0):
// "127.0.0.1:8883" for the mutual-TLS listener, say, or ":443" for
// ListenerALPN. name is ListenerMTLS, ListenerALPN, ListenerTCP or
// ListenerWSS.
func WithListenAddr(name, addr string) Option {
	return func(c *config) {
		if c.addrs == nil {
			c.addrs = make(map[string]string)
		}
		c.addrs[name] = addr
	}
}

// WithCA uses ca instead of a freshly generated CA; the server certificate
// is valid as long as ca.
func WithCA(ca *certs.CA) Option { return func(c *config) { c.ca = ca } }

// WithHosts sets the names and addresses in the server certificate (default
// "localhost" and 127.0.0.1). The first name is the Host of every Listener.
func WithHosts(hosts ...string) Option { return func(c *config) { c.hosts = hosts } }

// WithALPN also starts ListenerALPN, the listener of AWS IoT's port 443:
// mutual TLS that requires ALPN x-amzn-mqtt-ca (or, with
// WithCustomAuthorizer, mqtt). Give it port 443 with WithListenAddr to
// serve devices configured as for AWS.
func WithALPN() Option { return func(c *config) { c.alpn = true } }

// WithPlainTCP also starts ListenerTCP, plain MQTT without TLS.
func WithPlainTCP() Option { return func(c *config) { c.plainTCP = true } }

// WithWebSocket also starts ListenerWSS, MQTT over WebSocket with TLS (path
// /mqtt as on AWS IoT), which accepts upgrade requests presigned with SigV4
// by one of these credentials (access key id → secret access key), for the
// service iotdevicegateway or iotdata, and refuses others with HTTP 403.
func WithWebSocket(credentials map[string]string) Option {
	return func(c *config) { c.webSocket = maps.Clone(credentials) }
}

// WithCustomAuthorizer lets clients without a certificate connect to the
// mutual-TLS listeners if they negotiate ALPN "mqtt" (AWS IoT's custom
// authentication on port 443) and authorize accepts their MQTT user name
// and password. A refused one is closed without CONNACK under the AWS
// profile, as AWS does over MQTT 3.1.1 (MQTT 5: CONNACK 0x87), and gets
// CONNACK return code 5 with WithPlainMQTT.
func WithCustomAuthorizer(authorize func(username, password string) bool) Option {
	return func(c *config) { c.authorize = authorize }
}

// WithMemoryNetwork puts every listener, proxy and dial of the broker on an
// in-memory network instead of loopback TCP, so that the broker, and a
// client reaching it through a Listener's Proxy.DialContext (its socket
// factory), can run inside a testing/synctest bubble, where time moves
// only when every goroutine is blocked. Create the broker inside the
// bubble. Addresses look like loopback ones but nothing listens on the
// host; only Proxy.DialContext reaches the broker.
func WithMemoryNetwork() Option { return func(c *config) { c.memory = true } }

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

// WithProfile runs p instead of AWSIoTCore(): start from AWSIoTCore() and
// change what a test needs, e.g. TimeScale, or PublishRate 0 for a
// throughput run.
func WithProfile(p Profile) Option { return func(c *config) { c.profile = &p } }

// WithPlainMQTT runs plain mochi, without the AWS IoT Core profile: for
// testing device code against a generic MQTT broker.
func WithPlainMQTT() Option { return func(c *config) { c.profile = nil } }
