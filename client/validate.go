package client

import (
	"math"
	"net"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/iotmqtt/iotmqtt/internal/awsiot"
)

// invalid makes the ConfigError for field; the Configure method that sets
// it comes from setterOf.
func invalid(field, reason string) error {
	return &ConfigError{Field: field, Method: setterOf[field], Reason: reason}
}

// validate checks everything that does not need the file system, on a
// Config with its defaults applied.
func (c *Config) validate() error {
	if err := c.awsLimit(awsiot.CheckClientID(c.ClientID)); err != nil {
		return invalid("ClientID", err.Error())
	}
	switch {
	case c.ClientID == "":
		return invalid("ClientID", "must not be empty")
	case len(c.ClientID) > maxClientIDLength:
		return invalid("ClientID", "must be at most "+itoa(maxClientIDLength)+" bytes (MQTT's limit)")
	case !utf8.ValidString(c.ClientID) || containsNUL(c.ClientID):
		return invalid("ClientID", "must be valid UTF-8 without NUL")
	case c.Host == "":
		return invalid("Host", "must not be empty")
	case net.ParseIP(c.Host) == nil && !validHostName(c.Host):
		return invalid("Host", "must be a host name or IP address (no scheme, no port): "+quote(c.Host))
	case c.Port < 1 || c.Port > 65535:
		return invalid("Port", "must be between 1 and 65535, got "+itoa(c.Port))
	case c.UseWebsocket && c.Region == "" && regionFromEndpoint(c.Host) == "":
		return invalid("Region", "is needed for WebSocket SigV4: it cannot be taken from the endpoint "+quote(c.Host)+" (not an AWS IoT endpoint name)")
	case c.UseWebsocket && c.Credentials == nil:
		return invalid("Credentials", "are needed for WebSocket SigV4: ConfigureIAMCredentials, or awschain.Provider() for the AWS default chain")
	case c.BackoffBase < 0:
		return invalid("BackoffBase", "must be positive")
	case c.BackoffMax < c.BackoffBase:
		return invalid("BackoffMax", "must not be less than BackoffBase")
	case c.StableConnectionTime <= c.BackoffBase:
		return invalid("StableConnectionTime", "must be greater than BackoffBase")
	case !(c.BackoffJitter >= 0 && c.BackoffJitter <= 1):
		return invalid("BackoffJitter", "must be between 0 and 1")
	case c.OfflineQueueLimit < 0:
		return invalid("OfflineQueueLimit", "must not be negative (0: no bound; DisableOfflineQueue turns queueing off)")
	case c.OfflineQueueDrop != DropOldest && c.OfflineQueueDrop != DropNewest:
		return invalid("OfflineQueueDrop", "must be DropOldest or DropNewest")
	case !(c.DrainingFrequency > 0) || math.IsInf(c.DrainingFrequency, 0):
		return invalid("DrainingFrequency", "must be a positive number of Hz")
	case float64(time.Second)/c.DrainingFrequency >= math.MaxInt64:
		return invalid("DrainingFrequency", "is too low: one request every "+strconv.FormatFloat(1/c.DrainingFrequency, 'g', 3, 64)+" s is longer than the longest wait Go can time (about 292 years)")
	case time.Duration(float64(time.Second)/c.DrainingFrequency) <= 0:
		return invalid("DrainingFrequency", "is too high: more than one request per nanosecond")
	case c.ConnectDisconnectTimeout < 0:
		return invalid("ConnectDisconnectTimeout", "must be positive")
	case c.OperationTimeout < 0:
		return invalid("OperationTimeout", "must be positive")
	case c.KeepAlive > 65535*time.Second || c.KeepAlive%time.Second != 0:
		return invalid("KeepAlive", "must be a whole number of seconds up to 65535 (negative: none)")
	case c.PingTimeout < 0:
		return invalid("PingTimeout", "must be positive")
	case c.MaxPayloadSize < 0 || c.MaxPayloadSize > maxMQTTPayload:
		return invalid("MaxPayloadSize", "must be between 1 and "+itoa(maxMQTTPayload))
	}
	if c.Will != nil {
		if err := c.checkTopicName(c.Will.Topic); err != nil {
			return invalid("Will.Topic", err.Error())
		}
		if c.Will.QoS > QoS1 {
			return invalid("Will.QoS", "must be 0 or 1 (AWS IoT Core has no QoS 2)")
		}
	}
	return c.checkCredentialSources()
}

// checkCredentialSources refuses credentials from more than one source.
func (c *Config) checkCredentialSources() error {
	var sources []string
	if c.CAFile != "" || c.KeyFile != "" || c.CertFile != "" {
		sources = append(sources, "files (CAFile, KeyFile, CertFile)")
	}
	if len(c.CAPEM) > 0 || len(c.KeyPEM) > 0 || len(c.CertPEM) > 0 {
		sources = append(sources, "PEM bytes (CAPEM, KeyPEM, CertPEM)")
	}
	if c.TLSConfig != nil {
		sources = append(sources, "TLSConfig")
	}
	switch len(sources) {
	case 0:
		return invalid("CAFile", "is missing: give the root CA (and, for mutual TLS, the key and certificate) as files, PEM bytes or a TLSConfig")
	case 1:
		return nil
	}
	reason := "conflicts: the TLS credentials come from more than one source: "
	for i, s := range sources {
		if i > 0 {
			reason += " and "
		}
		reason += s
	}
	field := "CAPEM"
	if c.TLSConfig != nil {
		field = "TLSConfig"
	}
	return invalid(field, reason+"; give exactly one")
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
