package client

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The Configure methods are the AWS IoT Python SDK's AWSIoTMQTTClient
// configure methods, every one and no others, with the same names and
// argument order. Each only sets the Config fields it names; New checks
// them. The Python constructor AWSIoTMQTTClient(clientID, protocolType,
// useWebsocket, cleanSession) is DefaultConfig(clientID) with the fields
// UseWebsocket and PersistentSession (MQTT 3.1.1 is the only protocol).

// ConfigureLastWill is Python's configureLastWill; it sets Will.
func (c *Config) ConfigureLastWill(topic string, payload []byte, qos QoS, retain bool) {
	c.Will = &Will{Topic: topic, Payload: payload, QoS: qos, Retain: retain}
}

// ClearLastWill is Python's clearLastWill; it sets Will to nil.
func (c *Config) ClearLastWill() { c.Will = nil }

// ConfigureEndpoint is Python's configureEndpoint; it sets Host and Port
// (8883 for mutual TLS; 443 for ALPN or WebSocket).
func (c *Config) ConfigureEndpoint(hostName string, portNumber int) {
	c.Host, c.Port = hostName, portNumber
}

// ConfigureIAMCredentials is Python's configureIAMCredentials; it sets
// Credentials to these static credentials, used to sign WebSocket
// connections. Unless both the key id and the secret are given (as in the
// Python SDK), it leaves Credentials as they are, so the AWS chain from the
// awschain package, if set, stays: the Python SDK's fallback.
func (c *Config) ConfigureIAMCredentials(awsAccessKeyID, awsSecretAccessKey, awsSessionToken string) {
	if awsAccessKeyID == "" || awsSecretAccessKey == "" {
		return
	}
	creds := aws.Credentials{AccessKeyID: awsAccessKeyID, SecretAccessKey: awsSecretAccessKey, SessionToken: awsSessionToken, Source: "ConfigureIAMCredentials"}
	c.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })
}

// ConfigureCredentials is Python's configureCredentials; it sets CAFile,
// KeyFile and CertFile, the PEM files of the root CA, the private key and
// the certificate, read and checked by New. WebSocket and
// custom-authorizer (user name on port 443) connections need only the root
// CA. (In memory: the CAPEM, KeyPEM and CertPEM fields, or TLSConfig.)
func (c *Config) ConfigureCredentials(caFilePath, keyPath, certificatePath string) {
	c.CAFile, c.KeyFile, c.CertFile = caFilePath, keyPath, certificatePath
}

// ConfigureAutoReconnectBackoffTime is Python's
// configureAutoReconnectBackoffTime; it sets BackoffBase, BackoffMax and
// StableConnectionTime (stable must be greater than base).
func (c *Config) ConfigureAutoReconnectBackoffTime(baseReconnectQuiet, maxReconnectQuiet, stableConnection time.Duration) {
	c.BackoffBase, c.BackoffMax, c.StableConnectionTime = baseReconnectQuiet, maxReconnectQuiet, stableConnection
}

// ConfigureOfflinePublishQueueing is Python's
// configureOfflinePublishQueueing; it sets OfflineQueueLimit,
// DisableOfflineQueue and OfflineQueueDrop. queueSize has the Python
// meaning: QueueInfinite (any negative number), QueueDisabled (0) or a
// bound. Publish, subscribe and unsubscribe requests are all queued.
func (c *Config) ConfigureOfflinePublishQueueing(queueSize int, dropBehavior DropBehavior) {
	c.OfflineQueueLimit, c.DisableOfflineQueue = max(queueSize, 0), queueSize == QueueDisabled
	c.OfflineQueueDrop = dropBehavior
}

// ConfigureDrainingFrequency is Python's configureDrainingFrequency; it
// sets DrainingFrequency, in Hz.
func (c *Config) ConfigureDrainingFrequency(frequencyInHz float64) {
	c.DrainingFrequency = frequencyInHz
}

// ConfigureConnectDisconnectTimeout is Python's
// configureConnectDisconnectTimeout; it sets ConnectDisconnectTimeout.
func (c *Config) ConfigureConnectDisconnectTimeout(timeout time.Duration) {
	c.ConnectDisconnectTimeout = timeout
}

// ConfigureMQTTOperationTimeout is Python's configureMQTTOperationTimeout;
// it sets OperationTimeout.
func (c *Config) ConfigureMQTTOperationTimeout(timeout time.Duration) { c.OperationTimeout = timeout }

// ConfigureUsernamePassword is Python's configureUsernamePassword; it sets
// Username and Password. On port 443 with a user name and no client
// certificate, the client uses an AWS IoT custom authorizer: TLS with ALPN
// "mqtt". With metrics on, the metrics suffix is appended to the user name,
// joined with "&" if it already has a query (as custom-authorizer user
// names do).
func (c *Config) ConfigureUsernamePassword(username, password string) {
	c.Username, c.Password = username, password
}

// ConfigureSocketFactory is Python's configureSocketFactory; it sets
// Dialer, which opens the TCP connection on every (re)connect.
func (c *Config) ConfigureSocketFactory(dial DialFunc) { c.Dialer = dial }

// EnableMetricsCollection is Python's enableMetricsCollection; it sets
// DisableMetrics to false.
func (c *Config) EnableMetricsCollection() { c.DisableMetrics = false }

// DisableMetricsCollection is Python's disableMetricsCollection; it sets
// DisableMetrics to true.
func (c *Config) DisableMetricsCollection() { c.DisableMetrics = true }

// setterOf names the Configure method that sets each Config field, for
// ConfigError; fields without one are set directly.
var setterOf = map[string]string{
	"Will.Topic": "ConfigureLastWill", "Will.QoS": "ConfigureLastWill",
	"Host": "ConfigureEndpoint", "Port": "ConfigureEndpoint",
	"Credentials": "ConfigureIAMCredentials",
	"CAFile":      "ConfigureCredentials", "KeyFile": "ConfigureCredentials", "CertFile": "ConfigureCredentials",
	"BackoffBase": "ConfigureAutoReconnectBackoffTime", "BackoffMax": "ConfigureAutoReconnectBackoffTime",
	"StableConnectionTime": "ConfigureAutoReconnectBackoffTime",
	"OfflineQueueLimit":    "ConfigureOfflinePublishQueueing", "OfflineQueueDrop": "ConfigureOfflinePublishQueueing",
	"DrainingFrequency":        "ConfigureDrainingFrequency",
	"ConnectDisconnectTimeout": "ConfigureConnectDisconnectTimeout",
	"OperationTimeout":         "ConfigureMQTTOperationTimeout",
	"Username":                 "ConfigureUsernamePassword",
	"Dialer":                   "ConfigureSocketFactory",
}
