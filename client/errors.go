package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNotConnected: Connect has not been called, or Disconnect was. The
	// request was not accepted.
	ErrNotConnected = errors.New("client: not connected (call Connect first)")
	// ErrAlreadyConnected: Connect or ConnectAsync was called while the
	// client was already connected or connecting.
	ErrAlreadyConnected = errors.New("client: already connected or connecting")
	// ErrDisconnecting: Connect or ConnectAsync was called while the client
	// was still stopping (StatusStopping); wait for Disconnect to return,
	// or for DisconnectAsync's callback.
	ErrDisconnecting = errors.New("client: still disconnecting")
	// ErrQueueFull: offline, and the bounded offline queue is full
	// (DropNewest). The request was not accepted.
	ErrQueueFull = errors.New("client: offline queue full")
	// ErrQueueDisabled: offline, and offline queueing is disabled (size 0).
	// The request was not accepted.
	ErrQueueDisabled = errors.New("client: offline, and offline queueing is disabled")
	// ErrQueueStorage: the offline queue's directory (Config.OfflineQueueDir)
	// could not be written: a full disk, an I/O error. The error wraps the
	// system's (errors.Is(err, syscall.ENOSPC)). With NotAccepted, the
	// request was not queued and nothing already queued was lost; with
	// Queued, the request is queued in memory but not durable on disk.
	ErrQueueStorage = errors.New("client: offline queue directory")
	// ErrQueueDirInUse: New was given an OfflineQueueDir that another
	// client, in this process or another, has open.
	ErrQueueDirInUse = errors.New("client: offline queue directory in use")
	// ErrClosed: the client was closed (Close).
	ErrClosed = errors.New("client: closed")
	// ErrDropped is given to the ack callback of a queued request that
	// DropOldest removed to make room for a newer one.
	ErrDropped = errors.New("client: dropped from the offline queue to make room (DropOldest)")
	// ErrRejectedByBroker: the broker closed the connection each time the
	// request was sent (Config.RejectAfterCloses times in a row), as AWS IoT
	// Core does for a publish or subscription its policy denies or a
	// protocol violation; the request was removed so the ones behind it can
	// go out.
	ErrRejectedByBroker = errors.New("client: the broker closed the connection each time this request was sent; removed")
	// ErrTLSRefused: the broker refused the TLS handshake with an alert
	// (a bad, expired or unknown client certificate, or none). The error
	// wraps the alert, a *net.OpError whose Op is "remote error".
	ErrTLSRefused = errors.New("client: TLS refused by the broker")
	// ErrInvalidConfig is wrapped by every *ConfigError.
	ErrInvalidConfig = errors.New("client: invalid configuration")
	// ErrInvalidTopic: an empty, malformed or (for publish) wildcard topic.
	ErrInvalidTopic = errors.New("client: invalid topic")
	// ErrInvalidQoS: a QoS other than 0 or 1. AWS IoT Core does not
	// support QoS 2.
	ErrInvalidQoS = errors.New("client: invalid QoS (AWS IoT Core supports QoS 0 and 1 only)")
	// ErrPayloadTooLarge: the payload exceeds Config.MaxPayloadSize.
	ErrPayloadTooLarge = errors.New("client: payload too large")
	// ErrSubscriptionRefused is wrapped by *SubscribeError.
	ErrSubscriptionRefused = errors.New("client: subscription refused")
	// ErrConnectionRefused is wrapped by *ConnectError.
	ErrConnectionRefused = errors.New("client: connection refused")
	// ErrTimeout: a blocking call's deadline (the AWS timeout, or the
	// context's) expired. errors.Is(err, context.DeadlineExceeded) also
	// holds. A request that timed out is Pending: it stays in flight or
	// queued and will still be sent.
	ErrTimeout error = timeoutError{}
)

type timeoutError struct{}

func (timeoutError) Error() string        { return "client: timed out" }
func (timeoutError) Timeout() bool        { return true }
func (timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// ctxError turns the end of a context into the error a blocking call
// returns: ErrTimeout for a deadline, the context's error otherwise.
func ctxError(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w %s", ErrTimeout, what)
	}
	return fmt.Errorf("client: %s: %w", what, ctx.Err())
}

// ConfigError names the Config field that New rejected, the Configure
// method that sets it (the Python SDK's method of the same name), and why.
// A credential file that cannot be read wraps the file system's error, so
// errors.Is(err, fs.ErrNotExist) holds for a missing file.
type ConfigError struct {
	Field  string // the Config field
	Method string // the Configure method that sets it, if any
	Reason string
	Err    error // the underlying error, if any
}

func (e *ConfigError) Error() string {
	s := fmt.Sprintf("client: invalid configuration: %s %s", e.Field, e.Reason)
	if e.Method != "" {
		s += fmt.Sprintf(" (%s; Python's %s)", e.Method, pythonName(e.Method))
	}
	return s
}

// Unwrap makes errors.Is(err, ErrInvalidConfig) hold, and reaches the
// underlying error.
func (e *ConfigError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidConfig}
	}
	return []error{ErrInvalidConfig, e.Err}
}

// pythonName is a Configure method's name in the Python SDK.
func pythonName(method string) string {
	if method == "" {
		return ""
	}
	return strings.ToLower(method[:1]) + method[1:]
}

// ConnectError is a CONNACK that refused the connection.
type ConnectError struct {
	ReturnCode byte // MQTT 3.1.1 CONNACK return code, 1–5
}

var connackReasons = map[byte]string{
	1: "unacceptable protocol version",
	2: "identifier rejected",
	3: "server unavailable",
	4: "bad user name or password",
	5: "not authorized",
}

func (e *ConnectError) Error() string {
	reason := connackReasons[e.ReturnCode]
	if reason == "" {
		reason = "unknown return code"
	}
	return fmt.Sprintf("client: connection refused by the broker: CONNACK return code %d (%s)", e.ReturnCode, reason)
}

// Unwrap makes errors.Is(err, ErrConnectionRefused) hold.
func (e *ConnectError) Unwrap() error { return ErrConnectionRefused }

// SubscribeError is a SUBACK that refused a topic filter (return code 0x80).
type SubscribeError struct {
	Filter     string
	ReturnCode byte
}

func (e *SubscribeError) Error() string {
	return fmt.Sprintf("client: subscription to %q refused by the broker (SUBACK 0x%02x)", e.Filter, e.ReturnCode)
}

// Unwrap makes errors.Is(err, ErrSubscriptionRefused) hold.
func (e *SubscribeError) Unwrap() error { return ErrSubscriptionRefused }
