package broker

import (
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/mochi-mqtt/server/v2/packets"
)

// The disconnect reasons of AWS IoT Core's lifecycle events, which the
// recorder gives every DISCONNECT (Event.Reason).
const (
	ReasonClientInitiated  = "CLIENT_INITIATED_DISCONNECT"
	ReasonClientError      = "CLIENT_ERROR"
	ReasonAuthError        = "AUTH_ERROR"
	ReasonDuplicateID      = "DUPLICATE_CLIENTID"
	ReasonKeepaliveTimeout = "MQTT_KEEP_ALIVE_TIMEOUT"
	ReasonConnectionLost   = "CONNECTION_LOST"
	ReasonThrottled        = "THROTTLED"
	ReasonServerInitiated  = "SERVER_INITIATED_DISCONNECT"
	ReasonWebSocketTTL     = "WEBSOCKET_TTL_EXPIRATION"
)

// violation is why the profile ended a connection: the stop cause it gives
// mochi, so the recorder and the lifecycle event both find it.
type violation struct {
	reason string // one of the Reason constants
	detail string
}

func (v *violation) Error() string { return v.reason + ": " + v.detail }

func clientError(detail string) *violation { return &violation{ReasonClientError, detail} }

// disconnectReason classifies why a session ended, as AWS IoT Core's
// disconnected lifecycle event does: cause is the client's stop cause if
// it has one, else the error its read loop ended with.
func disconnectReason(cause error) string {
	var v *violation
	switch {
	case cause == nil, errors.Is(cause, packets.CodeDisconnect):
		return ReasonClientInitiated
	case errors.As(cause, &v):
		return v.reason
	case errors.Is(cause, packets.ErrSessionTakenOver):
		return ReasonDuplicateID
	case errors.Is(cause, os.ErrDeadlineExceeded):
		return ReasonKeepaliveTimeout
	case errors.Is(cause, errClosedByBroker), errors.Is(cause, packets.ErrServerShuttingDown):
		return ReasonServerInitiated
	case errors.Is(cause, io.EOF), errors.Is(cause, io.ErrUnexpectedEOF), errors.Is(cause, syscall.ECONNRESET),
		errors.Is(cause, syscall.EPIPE), errors.Is(cause, os.ErrClosed):
		return ReasonConnectionLost
	}
	var code packets.Code
	if errors.As(cause, &code) {
		return ReasonClientError // a protocol error of the client's: malformed packet, second CONNECT, …
	}
	return ReasonConnectionLost
}
