package client

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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
// request.
type DropBehavior int

const (
	// DropNewest rejects the new request with ErrQueueFull (the default,
	// the Python SDK's DROP_NEWEST).
	DropNewest DropBehavior = 0
	// DropOldest removes the oldest queued request to make room (the
	// Python SDK's DROP_OLDEST).
	DropOldest DropBehavior = 1
)

// Queue sizes of ConfigureOfflinePublishQueueing, with the Python SDK's
// meaning.
const (
	QueueInfinite = -1 // no bound (the default)
	QueueDisabled = 0  // no offline queueing: offline requests fail with ErrQueueDisabled
)

// The defaults, equal to the AWS IoT Python SDK's. New applies them to the
// Config fields left at zero.
const (
	DefaultPort                     = 8883 // 443 with UseWebsocket
	DefaultBackoffBase              = 1 * time.Second
	DefaultBackoffMax               = 32 * time.Second
	DefaultStableConnectionTime     = 20 * time.Second
	DefaultDrainingFrequency        = 2.0 // Hz
	DefaultConnectDisconnectTimeout = 30 * time.Second
	DefaultOperationTimeout         = 5 * time.Second
	DefaultKeepAlive                = 600 * time.Second
	DefaultPingTimeout              = 10 * time.Second
	DefaultRejectAfterCloses        = 3
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

// Config is the client's configuration. Its fields are the API: a field left
// at zero means the documented default, which New applies, so
// Config{ClientID: "x", Host: h, CAFile: ca, KeyFile: key, CertFile: cert}
// is a complete configuration with AWS's defaults. The Configure methods
// (configure.go) are the AWSIoTMQTTClient configure methods, each setting
// the fields it names. New validates everything once.
type Config struct {
	// ClientID is the MQTT client identifier (the Python constructor's
	// clientID). Required; at most 128 bytes (AWS IoT Core's limit).
	ClientID string
	// PersistentSession asks the broker to keep the session (the Python
	// constructor's cleanSession=False). Default: a clean session.
	PersistentSession bool
	// UseWebsocket selects MQTT over WebSocket (wss://Host/mqtt, port 443
	// by default) authenticated by a SigV4-presigned URL, signed afresh for
	// every connection attempt with Credentials (the constructor's
	// useWebsocket). It needs only the root CA, no client certificate.
	UseWebsocket bool
	// Region is the AWS region for WebSocket SigV4 signing. Default: taken
	// from the endpoint's name (abc-ats.iot.eu-west-1.amazonaws.com:
	// eu-west-1); required for other endpoints.
	Region string

	// Host and Port are the broker endpoint (ConfigureEndpoint). Port
	// defaults to 8883, or 443 with UseWebsocket; 443 without WebSocket
	// negotiates ALPN x-amzn-mqtt-ca.
	Host string
	Port int

	// The TLS credentials come from exactly one source: the PEM files
	// (ConfigureCredentials), the same as PEM bytes, or a ready tls.Config.
	// Giving two is an error.
	//
	// CAFile, KeyFile and CertFile are PEM file paths: the root CA, the
	// device's private key and its certificate (ConfigureCredentials).
	CAFile, KeyFile, CertFile string
	// CAPEM, KeyPEM and CertPEM hold the same in memory.
	CAPEM, KeyPEM, CertPEM []byte
	// TLSConfig is used as it is, but ServerName and, on port 443,
	// NextProtos are filled in when empty.
	TLSConfig *tls.Config

	// Credentials sign WebSocket connections (SigV4). ConfigureIAMCredentials
	// sets static ones; the awschain package gives the AWS default chain
	// (environment, shared files, SSO, instance roles), the Python SDK's
	// fallback. They are retrieved for every connection attempt.
	Credentials aws.CredentialsProvider

	// BackoffBase is the first wait before reconnecting; each further
	// failed attempt doubles it, up to BackoffMax. Once a connection has
	// stayed up for StableConnectionTime the wait returns to BackoffBase;
	// StableConnectionTime must be greater than BackoffBase
	// (ConfigureAutoReconnectBackoffTime; defaults 1 s, 32 s, 20 s).
	BackoffBase, BackoffMax, StableConnectionTime time.Duration
	// BackoffJitter, between 0 and 1, randomises each wait down by up to
	// that fraction: 0 (the default) waits exactly, 1 is "full jitter".
	BackoffJitter float64
	// RetryFirstConnect makes Connect keep trying, with the back-off, until
	// it succeeds or its context ends. By default (as in AWS) a failed first
	// connect returns its error at once.
	RetryFirstConnect bool

	// OfflineQueueLimit bounds the queue of requests waiting for the
	// connection: 0 (the default) means no bound. OfflineQueueDrop says
	// what a full queue does (default DropNewest). DisableOfflineQueue
	// refuses requests made offline with ErrQueueDisabled instead
	// (ConfigureOfflinePublishQueueing sets all three). The queue also
	// holds requests made faster than a live connection takes them.
	OfflineQueueLimit   int
	OfflineQueueDrop    DropBehavior
	DisableOfflineQueue bool
	// OfflineQueueDir, if set, keeps the queue's publishes in this
	// directory (created if needed), so that they survive the process: New
	// restores what an earlier client left there (QueuedRequests counts
	// it, a log line says so; beyond OfflineQueueLimit, OfflineQueueDrop
	// picks what stays) and Connect drains it, in order, with every rule
	// of the queue kept. One client at a time may have a directory
	// (New returns ErrQueueDirInUse); Close releases it. OfflineQueueSync
	// says when a queued publish is on disk: SyncEachRequest (the default)
	// or SyncBatched, fsynced at most OfflineQueueSyncDelay (default
	// 100 ms) after the call. Subscribe and unsubscribe requests are
	// queued in memory only.
	OfflineQueueDir       string
	OfflineQueueSync      QueueSync
	OfflineQueueSyncDelay time.Duration
	// DrainingFrequency is how many queued requests per second go out after
	// a reconnect (ConfigureDrainingFrequency; default 2 Hz).
	DrainingFrequency float64
	// RejectAfterCloses: a request the broker answers by closing the
	// connection this many times is rejected with ErrRejectedByBroker and
	// removed, so the requests behind it can go out. The close is blamed on
	// the oldest request sent (within OperationTimeout) and still
	// unanswered when the broker closes a connection. Default 3; negative:
	// never reject.
	RejectAfterCloses int

	// ConnectDisconnectTimeout bounds Connect (dial, TLS handshake and
	// CONNACK together) and Disconnect (ConfigureConnectDisconnectTimeout;
	// default 30 s).
	ConnectDisconnectTimeout time.Duration
	// OperationTimeout bounds the wait of synchronous Publish, Subscribe
	// and Unsubscribe for their acknowledgement, and how long a write may
	// stall before the connection is given up (ConfigureMQTTOperationTimeout;
	// default 5 s).
	OperationTimeout time.Duration
	// KeepAlive is the MQTT keepalive, in whole seconds (default 600 s, the
	// Python connect()'s keepAliveIntervalSecond); negative disables it.
	KeepAlive time.Duration
	// PingTimeout is how long to wait for a PINGRESP before declaring the
	// link dead (default 10 s).
	PingTimeout time.Duration

	// Will is the last will, or nil (ConfigureLastWill, ClearLastWill).
	Will *Will
	// Username and Password (ConfigureUsernamePassword).
	Username, Password string
	// DisableMetrics leaves out the "?SDK=iotmqtt&Version=…" suffix the AWS
	// SDKs append to the user name (DisableMetricsCollection; default on).
	DisableMetrics bool
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
	// AWS IoT Core's limit; with PlainMQTT, MQTT's 256 MiB).
	MaxPayloadSize int
	// PlainMQTT is for a broker other than AWS IoT Core: the client no
	// longer refuses what AWS would close the connection for but MQTT
	// allows (topics over 256 bytes or 7 slashes, client ids over 128
	// bytes, payloads over 128 KiB unless MaxPayloadSize says so). Default:
	// AWS IoT Core's limits apply.
	PlainMQTT bool
}

// DefaultConfig returns the configuration AWSIoTMQTTClient(clientID) starts
// with: MQTT 3.1.1, a clean session, mutual TLS and the AWS defaults
// (every other field at zero; New applies the defaults).
func DefaultConfig(clientID string) Config { return Config{ClientID: clientID} }

// withDefaults returns cfg with the defaults in the fields left at zero.
func (c Config) withDefaults() Config {
	setDuration := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	if c.Port == 0 {
		c.Port = DefaultPort
		if c.UseWebsocket {
			c.Port = 443
		}
	}
	setDuration(&c.BackoffBase, DefaultBackoffBase)
	setDuration(&c.BackoffMax, DefaultBackoffMax)
	setDuration(&c.StableConnectionTime, DefaultStableConnectionTime)
	setDuration(&c.ConnectDisconnectTimeout, DefaultConnectDisconnectTimeout)
	setDuration(&c.OperationTimeout, DefaultOperationTimeout)
	setDuration(&c.KeepAlive, DefaultKeepAlive)
	setDuration(&c.PingTimeout, DefaultPingTimeout)
	if c.DrainingFrequency == 0 {
		c.DrainingFrequency = DefaultDrainingFrequency
	}
	if c.RejectAfterCloses == 0 {
		c.RejectAfterCloses = DefaultRejectAfterCloses
	}
	if c.MaxPayloadSize == 0 {
		c.MaxPayloadSize = DefaultMaxPayloadSize
		if c.PlainMQTT {
			c.MaxPayloadSize = maxMQTTPayload
		}
	}
	return c
}

// drainInterval is the time between two drained requests.
func (c *Config) drainInterval() time.Duration {
	return time.Duration(float64(time.Second) / c.DrainingFrequency)
}

// keepAlive is the keepalive paho sends: 0 when disabled.
func (c *Config) keepAlive() time.Duration { return max(c.KeepAlive, 0) }

// mqttUsername is the user name sent in CONNECT, with the metrics suffix.
func (c *Config) mqttUsername() string {
	if c.DisableMetrics {
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
