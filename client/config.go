package client

import (
	"context"
	"crypto/tls"
	"log/slog"
	"math"
	"net"
	"strconv"
	"time"
	"unicode/utf8"
)

// Version is this library's version, sent in the metrics suffix of the MQTT
// user name.
const Version = "0.1.0"

// QoS is an MQTT quality-of-service level. AWS IoT Core supports 0 and 1.
type QoS byte

const (
	// QoS0 is at most once.
	QoS0 QoS = 0
	// QoS1 is at least once: the broker acknowledges with PUBACK.
	QoS1 QoS = 1
)

// DropBehavior says what a full bounded offline queue does with a new
// request. The values equal AWSIoTPythonSDK's DROP_OLDEST and DROP_NEWEST.
type DropBehavior int

const (
	// DropOldest removes the oldest queued request to make room.
	DropOldest DropBehavior = 0
	// DropNewest rejects the new request with ErrQueueFull (the default).
	DropNewest DropBehavior = 1
)

// Offline queue sizes with a special meaning.
const (
	QueueInfinite = -1 // no bound (the default)
	QueueDisabled = 0  // no offline queueing: offline requests fail with ErrQueueDisabled
)

// Defaults, equal to the AWS IoT Python SDK's (see DefaultConfig).
const (
	DefaultBackoffBase              = 1 * time.Second
	DefaultBackoffMax               = 32 * time.Second
	DefaultStableConnectionTime     = 20 * time.Second
	DefaultDrainingFrequency        = 2.0 // Hz
	DefaultConnectDisconnectTimeout = 30 * time.Second
	DefaultOperationTimeout         = 5 * time.Second
	DefaultKeepAlive                = 600 * time.Second
	DefaultPingTimeout              = 10 * time.Second
	// DefaultMaxPayloadSize is AWS IoT Core's message size limit, 128 KiB.
	DefaultMaxPayloadSize = 128 * 1024
)

// maxMQTTPayload is the largest payload an MQTT 3.1.1 PUBLISH can carry
// whatever its topic: the largest remaining length, less the longest topic
// (a 2-byte length and 65,535 bytes) and the packet id.
const maxMQTTPayload = maxRemainingLength - 2 - maxTopicLength - 2

// maxRemainingLength is the largest remaining length MQTT can encode.
const maxRemainingLength = 268435455

// DialFunc opens the TCP connection to addr ("host:port"). TLS is layered on
// top of it, still verifying the configured host name. It is the counterpart
// of the Python SDK's socket factory.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Will is the last-will message the broker publishes if the client goes away
// without a DISCONNECT.
type Will struct {
	Topic   string
	Payload []byte
	QoS     QoS
	Retain  bool
}

// Config is the client's configuration. Start from DefaultConfig; the
// Configure methods mirror AWSIoTMQTTClient's. New validates it once.
type Config struct {
	// ClientID is the MQTT client identifier (the constructor's clientID).
	ClientID string
	// CleanSession asks for a clean session (default true, as in AWS).
	CleanSession bool
	// UseWebsocket selects MQTT over WebSocket (wss://Host/mqtt, normally
	// port 443) authenticated by a SigV4-presigned URL, signed afresh for
	// every connection attempt (the constructor's useWebsocket). It needs
	// only the root CA, no client certificate.
	UseWebsocket bool
	// Region is the AWS region for WebSocket SigV4 signing. Default: taken
	// from the endpoint's name (abc-ats.iot.eu-west-1.amazonaws.com:
	// eu-west-1); required for other endpoints.
	Region string

	// Host and Port are the broker endpoint (ConfigureEndpoint). Port 443
	// without WebSocket negotiates ALPN x-amzn-mqtt-ca.
	Host string
	Port int

	// CAFile, KeyFile and CertFile are PEM file paths (ConfigureCredentials).
	CAFile, KeyFile, CertFile string
	// CAPEM, KeyPEM and CertPEM hold the same in memory
	// (ConfigureCredentialsPEM); they are used when the file paths are empty.
	CAPEM, KeyPEM, CertPEM []byte
	// TLSConfig, if set, is used instead of the credentials above
	// (ConfigureTLSConfig). ServerName and, on port 443, NextProtos are
	// filled in when empty.
	TLSConfig *tls.Config

	// AccessKeyID, SecretAccessKey and SessionToken are IAM credentials for
	// WebSocket SigV4 (ConfigureIAMCredentials). When they are empty, the
	// standard AWS chain is used: environment variables, the shared config
	// and credentials files, profiles, and so on.
	AccessKeyID, SecretAccessKey, SessionToken string

	// BackoffBase is the first wait before reconnecting; each further
	// failed attempt doubles it, up to BackoffMax. Once a connection has
	// stayed up for StableConnectionTime the wait returns to BackoffBase
	// (ConfigureAutoReconnectBackoffTime; defaults 1 s, 32 s, 20 s).
	BackoffBase, BackoffMax, StableConnectionTime time.Duration
	// BackoffJitter, between 0 and 1, randomises each wait down by up to
	// that fraction: 0 (the default) waits exactly, 1 is "full jitter".
	BackoffJitter float64
	// RetryFirstConnect makes Connect keep trying, with the back-off, until
	// it succeeds or its context ends. By default (as in AWS) a failed first
	// connect returns its error at once.
	RetryFirstConnect bool

	// OfflineQueueSize bounds the offline queue: QueueInfinite (any
	// negative number, the default), QueueDisabled (0) or a maximum count.
	// DropBehavior says what a full queue does (default DropNewest)
	// (ConfigureOfflinePublishQueueing).
	OfflineQueueSize int
	DropBehavior     DropBehavior
	// DrainingFrequency is how many queued requests per second go out after
	// a reconnect (ConfigureDrainingFrequency; default 2 Hz).
	DrainingFrequency float64
	// RejectAfterCloses: a request the broker answers by closing the
	// connection this many times is rejected with ErrRejectedByBroker and
	// removed, so the requests behind it can go out. The broker is blamed
	// on the oldest request sent (within OperationTimeout) and still
	// unanswered when it closes a connection. 0 means the default, 3;
	// negative: never reject.
	RejectAfterCloses int

	// ConnectDisconnectTimeout bounds Connect (dial, TLS handshake and
	// CONNACK together) and Disconnect (ConfigureConnectDisconnectTimeout;
	// default 30 s).
	ConnectDisconnectTimeout time.Duration
	// OperationTimeout bounds the wait of synchronous Publish, Subscribe
	// and Unsubscribe for their acknowledgement
	// (ConfigureMQTTOperationTimeout; default 5 s).
	OperationTimeout time.Duration
	// KeepAlive is the MQTT keepalive, in whole seconds (default 600 s, the
	// Python connect()'s keepAliveIntervalSecond). 0 disables it.
	KeepAlive time.Duration
	// PingTimeout is how long to wait for a PINGRESP before declaring the
	// link dead (default 10 s).
	PingTimeout time.Duration

	// Will is the last will, or nil (ConfigureLastWill, ClearLastWill).
	Will *Will
	// Username and Password (ConfigureUsernamePassword).
	Username, Password string
	// MetricsCollection appends "?SDK=iotmqtt&Version=…" to the user name,
	// as the AWS SDKs do (EnableMetricsCollection,
	// DisableMetricsCollection; default on).
	MetricsCollection bool
	// Dialer opens the TCP connection (ConfigureSocketFactory; default a
	// net.Dialer).
	Dialer DialFunc

	// OnOnline is called after each successful connection (CONNACK).
	OnOnline func()
	// OnOffline is called when the connection is lost, with the cause, and
	// after Disconnect, with nil.
	OnOffline func(cause error)
	// OnMessage is called for every message received, after the matching
	// subscriptions' callbacks.
	OnMessage MessageHandler
	// Callbacks run one at a time, in order, on the client's dispatcher
	// goroutine, never on the network path: a slow callback delays other
	// callbacks but not acknowledgements; a panic is recovered and logged.

	// Logger receives the client's log (connection life at Info, each
	// request at Debug). Default: discarded.
	Logger *slog.Logger
	// MaxPayloadSize is the largest accepted payload (default 128 KiB,
	// AWS IoT Core's limit).
	MaxPayloadSize int
}

// DefaultConfig returns the configuration AWSIoTMQTTClient(clientID) starts
// with: MQTT 3.1.1, clean session, mutual TLS, back-off 1 s/32 s/20 s, an
// infinite offline queue dropping newest, draining at 2 Hz, 30 s
// connect/disconnect and 5 s operation timeouts, keepalive 600 s, metrics on.
func DefaultConfig(clientID string) Config {
	return Config{
		ClientID:                 clientID,
		CleanSession:             true,
		BackoffBase:              DefaultBackoffBase,
		BackoffMax:               DefaultBackoffMax,
		StableConnectionTime:     DefaultStableConnectionTime,
		OfflineQueueSize:         QueueInfinite,
		DropBehavior:             DropNewest,
		DrainingFrequency:        DefaultDrainingFrequency,
		ConnectDisconnectTimeout: DefaultConnectDisconnectTimeout,
		OperationTimeout:         DefaultOperationTimeout,
		KeepAlive:                DefaultKeepAlive,
		PingTimeout:              DefaultPingTimeout,
		MetricsCollection:        true,
		MaxPayloadSize:           DefaultMaxPayloadSize,
	}
}

// ConfigureEndpoint sets the broker host name and port (8883 for mutual
// TLS; 443 for ALPN or WebSocket).
func (c *Config) ConfigureEndpoint(hostName string, portNumber int) {
	c.Host, c.Port = hostName, portNumber
}

// ConfigureCredentials sets the root CA, private key and certificate file
// paths. They are read and checked by New. WebSocket and custom-authorizer
// (user name on port 443) connections need only the root CA.
func (c *Config) ConfigureCredentials(caFilePath, keyPath, certificatePath string) {
	c.CAFile, c.KeyFile, c.CertFile = caFilePath, keyPath, certificatePath
}

// ConfigureCredentialsPEM sets the root CA, private key and certificate as
// PEM bytes.
func (c *Config) ConfigureCredentialsPEM(caPEM, keyPEM, certPEM []byte) {
	c.CAPEM, c.KeyPEM, c.CertPEM = caPEM, keyPEM, certPEM
}

// ConfigureTLSConfig uses cfg for TLS instead of credential files.
func (c *Config) ConfigureTLSConfig(cfg *tls.Config) { c.TLSConfig = cfg }

// ConfigureIAMCredentials sets the IAM credentials for WebSocket SigV4.
func (c *Config) ConfigureIAMCredentials(awsAccessKeyID, awsSecretAccessKey, awsSessionToken string) {
	c.AccessKeyID, c.SecretAccessKey, c.SessionToken = awsAccessKeyID, awsSecretAccessKey, awsSessionToken
}

// ConfigureAutoReconnectBackoffTime sets the reconnect back-off: the first
// wait, the longest wait, and how long a connection must stay up for the
// wait to return to the first.
func (c *Config) ConfigureAutoReconnectBackoffTime(baseReconnectQuiet, maxReconnectQuiet, stableConnection time.Duration) {
	c.BackoffBase, c.BackoffMax, c.StableConnectionTime = baseReconnectQuiet, maxReconnectQuiet, stableConnection
}

// ConfigureOfflinePublishQueueing sets the offline queue's size
// (QueueInfinite, QueueDisabled or a bound) and what a full queue drops.
// Publish, subscribe and unsubscribe requests are all queued.
func (c *Config) ConfigureOfflinePublishQueueing(queueSize int, dropBehavior DropBehavior) {
	c.OfflineQueueSize, c.DropBehavior = queueSize, dropBehavior
}

// ConfigureDrainingFrequency sets how many queued requests per second are
// sent after a reconnect.
func (c *Config) ConfigureDrainingFrequency(frequencyInHz float64) {
	c.DrainingFrequency = frequencyInHz
}

// ConfigureConnectDisconnectTimeout bounds Connect and Disconnect.
func (c *Config) ConfigureConnectDisconnectTimeout(timeout time.Duration) {
	c.ConnectDisconnectTimeout = timeout
}

// ConfigureMQTTOperationTimeout bounds synchronous Publish, Subscribe and
// Unsubscribe.
func (c *Config) ConfigureMQTTOperationTimeout(timeout time.Duration) { c.OperationTimeout = timeout }

// ConfigureLastWill sets the last-will message.
func (c *Config) ConfigureLastWill(topic string, payload []byte, qos QoS, retain bool) {
	c.Will = &Will{Topic: topic, Payload: payload, QoS: qos, Retain: retain}
}

// ClearLastWill removes the last-will message.
func (c *Config) ClearLastWill() { c.Will = nil }

// ConfigureUsernamePassword sets the MQTT user name and password. On port
// 443 with a user name and no client certificate, the client uses an AWS IoT
// custom authorizer: TLS with ALPN "mqtt". With metrics on, the metrics
// suffix is appended to the user name, joined with "&" if it already has a
// query (as custom-authorizer user names do).
func (c *Config) ConfigureUsernamePassword(username, password string) {
	c.Username, c.Password = username, password
}

// EnableMetricsCollection turns the user-name metrics suffix on.
func (c *Config) EnableMetricsCollection() { c.MetricsCollection = true }

// DisableMetricsCollection turns the user-name metrics suffix off.
func (c *Config) DisableMetricsCollection() { c.MetricsCollection = false }

// ConfigureSocketFactory sets the function that opens the TCP connection on
// every (re)connect.
func (c *Config) ConfigureSocketFactory(dial DialFunc) { c.Dialer = dial }

// validate checks everything that does not need the file system.
func (c *Config) validate() error {
	bad := func(setting, method, reason string) error {
		return &ConfigError{Setting: setting, Method: method, Reason: reason}
	}
	switch {
	case c.ClientID == "":
		return bad("ClientID", "DefaultConfig", "must not be empty")
	case len(c.ClientID) > 128:
		return bad("ClientID", "DefaultConfig", "must be at most 128 bytes (AWS IoT limit)")
	case !utf8.ValidString(c.ClientID) || containsNUL(c.ClientID):
		return bad("ClientID", "DefaultConfig", "must be valid UTF-8 without NUL")
	case c.Host == "":
		return bad("Host", "ConfigureEndpoint", "must not be empty")
	case net.ParseIP(c.Host) == nil && !validHostName(c.Host):
		return bad("Host", "ConfigureEndpoint", "must be a host name or IP address (no scheme, no port): "+quote(c.Host))
	case c.Port < 1 || c.Port > 65535:
		return bad("Port", "ConfigureEndpoint", "must be between 1 and 65535, got "+itoa(c.Port))
	case c.UseWebsocket && c.Region == "" && regionFromEndpoint(c.Host) == "":
		return bad("Region", "", "is needed for WebSocket SigV4: it cannot be taken from the endpoint "+quote(c.Host)+" (not an AWS IoT endpoint name)")
	case (c.AccessKeyID == "") != (c.SecretAccessKey == ""):
		return bad("AccessKeyID/SecretAccessKey", "ConfigureIAMCredentials", "must be given together")
	case c.BackoffBase <= 0:
		return bad("BackoffBase", "ConfigureAutoReconnectBackoffTime", "must be positive")
	case c.BackoffMax < c.BackoffBase:
		return bad("BackoffMax", "ConfigureAutoReconnectBackoffTime", "must not be less than BackoffBase")
	case c.StableConnectionTime <= c.BackoffBase:
		return bad("StableConnectionTime", "ConfigureAutoReconnectBackoffTime", "must be greater than BackoffBase")
	case !(c.BackoffJitter >= 0 && c.BackoffJitter <= 1):
		return bad("BackoffJitter", "", "must be between 0 and 1")
	case c.DropBehavior != DropOldest && c.DropBehavior != DropNewest:
		return bad("DropBehavior", "ConfigureOfflinePublishQueueing", "must be DropOldest or DropNewest")
	case !(c.DrainingFrequency > 0) || math.IsInf(c.DrainingFrequency, 0):
		return bad("DrainingFrequency", "ConfigureDrainingFrequency", "must be a positive number of Hz")
	case float64(time.Second)/c.DrainingFrequency >= math.MaxInt64:
		return bad("DrainingFrequency", "ConfigureDrainingFrequency", "is too low: one request every "+strconv.FormatFloat(1/c.DrainingFrequency, 'g', 3, 64)+" s is longer than the longest wait Go can time (about 292 years)")
	case time.Duration(float64(time.Second)/c.DrainingFrequency) <= 0:
		return bad("DrainingFrequency", "ConfigureDrainingFrequency", "is too high: more than one request per nanosecond")
	case c.ConnectDisconnectTimeout <= 0:
		return bad("ConnectDisconnectTimeout", "ConfigureConnectDisconnectTimeout", "must be positive")
	case c.OperationTimeout <= 0:
		return bad("OperationTimeout", "ConfigureMQTTOperationTimeout", "must be positive")
	case c.KeepAlive < 0 || c.KeepAlive > 65535*time.Second || c.KeepAlive%time.Second != 0:
		return bad("KeepAlive", "", "must be a whole number of seconds between 0 and 65535")
	case c.PingTimeout <= 0:
		return bad("PingTimeout", "", "must be positive")
	case c.MaxPayloadSize < 1 || c.MaxPayloadSize > maxMQTTPayload:
		return bad("MaxPayloadSize", "", "must be between 1 and "+itoa(maxMQTTPayload))
	}
	if c.Will != nil {
		if err := validateTopicName(c.Will.Topic); err != nil {
			return bad("Will.Topic", "ConfigureLastWill", err.Error())
		}
		if c.Will.QoS > QoS1 {
			return bad("Will.QoS", "ConfigureLastWill", "must be 0 or 1 (AWS IoT Core has no QoS 2)")
		}
	}
	return nil
}

// drainInterval is the time between two drained requests.
func (c *Config) drainInterval() time.Duration {
	return time.Duration(float64(time.Second) / c.DrainingFrequency)
}

// mqttUsername is the user name sent in CONNECT, with the metrics suffix.
func (c *Config) mqttUsername() string {
	if !c.MetricsCollection {
		return c.Username
	}
	sep := "?"
	for i := 0; i < len(c.Username); i++ {
		if c.Username[i] == '?' {
			sep = "&"
			break
		}
	}
	return c.Username + sep + "SDK=iotmqtt&Version=" + Version
}

func validHostName(h string) bool {
	if len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		ch := h[i]
		ok := ch == '.' || ch == '-' || ch == '_' || (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}
