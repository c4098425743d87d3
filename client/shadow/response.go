package shadow

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Status is what a response is: Python's responseStatus.
type Status string

// The statuses of a Response.
const (
	// Accepted: the service accepted the request; Payload is the accepted
	// document.
	Accepted Status = "accepted"
	// Rejected: the service rejected the request; Payload is the error
	// document and Err a *RejectedError.
	Rejected Status = "rejected"
	// Timeout: no answer came within the timeout; Err is client.ErrTimeout
	// (or, for a synchronous call whose context was cancelled, its error).
	Timeout Status = "timeout"
	// Failed: the request could not be sent (dropped from the offline
	// queue, or rejected by the broker); Err says why.
	Failed Status = "failed"
	// Delta: a delta message (for the delta callback); Payload is the
	// delta document.
	Delta Status = "delta"
)

// Response is an answer to a request, its timeout, or a delta.
type Response struct {
	Status  Status
	Payload []byte // the JSON document received; nil on Timeout and Failed
	Token   string // the request's clientToken (a delta's, if it carries one)
	Version int64  // the document's version, 0 if it has none
	Err     error  // nil for Accepted and Delta
}

// Callback receives a response: Python's customCallback(payload,
// responseStatus, token).
type Callback func(Response)

// ErrRejected is wrapped by every *RejectedError.
var ErrRejected = errors.New("shadow: request rejected")

// ErrInvalidDocument: an update document that is not a JSON object, or
// whose clientToken is not a string of at most 64 bytes. Nothing was sent.
var ErrInvalidDocument = errors.New("shadow: invalid document")

// RejectedError is a rejection by the Device Shadow service, with AWS's
// HTTP status code and message (400, 404 no shadow, 409 version conflict,
// 413, 429 …).
type RejectedError struct {
	Code    int
	Message string
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("shadow: rejected: %d %s", e.Code, e.Message)
}

// Unwrap makes errors.Is(err, ErrRejected) hold.
func (e *RejectedError) Unwrap() error { return ErrRejected }

// answer is what the handler reads of a document it receives.
type answer struct {
	ClientToken string `json:"clientToken"`
	Version     int64  `json:"version"`
	Code        int    `json:"code"`
	Message     string `json:"message"`
}

// readAnswer decodes the fields of a received document; ok is false if it
// is not a JSON object.
func readAnswer(payload []byte) (answer, bool) {
	var a answer
	return a, json.Unmarshal(payload, &a) == nil
}
