// Package shadowdoc is the AWS IoT Device Shadow document engine: a store
// of shadows by thing and shadow name, and the get, update and delete
// operations on them with AWS's rules — merging, metadata timestamps,
// versions and optimistic locking, the delta, the documents message,
// clientTokens, and the errors with AWS's codes and messages. It knows
// nothing of MQTT: the broker's shadow service feeds it request payloads
// and publishes what it returns.
//
// The rules are those of aws-iot-core-behaviour.md §5. Where AWS's
// documents disagree the choice is a Limits field (depth) or written here:
// a new shadow's first version is 1; a delete keeps the numbering (the
// next update after a delete at version N makes version N+1; AWS's reset
// after 48 hours is not modelled); metadata of an array has one entry per
// element; the error document carries code, message and clientToken, no
// timestamp.
package shadowdoc

import (
	"fmt"
	"sync"
	"time"

	"github.com/iotmqtt/iotmqtt/internal/shadowtopic"
)

// Limits are the service's limits and its choices where AWS's documents
// disagree.
type Limits struct {
	// MaxDocumentBytes bounds the stored state (desired and reported as
	// compact JSON, without metadata) after an update; a larger result is
	// rejected with 413 and nothing changes.
	MaxDocumentBytes int
	// MaxDepth bounds the levels of objects and arrays in a desired or
	// reported section of an update, the section itself being level 1; a
	// deeper one is rejected with 400.
	MaxDepth int
	// DeltaOnReportedUpdates also publishes update/delta after an update
	// that sent only reported state and leaves desired and reported
	// different. By default, as AWS's MQTT topic documentation reads, a
	// delta is published only after an update that sent desired state.
	DeltaOnReportedUpdates bool
}

// The defaults: AWS's 8 KB document, and the depth in AWS's current error
// message ("maximum is 6"; the 2019 quota said 5 levels within desired or
// reported, that is 6 counting the section).
const (
	DefaultMaxDocumentBytes = 8192
	DefaultMaxDepth         = 6
)

// Error is a rejected request: an HTTP status code and AWS's message.
type Error struct {
	Code        int
	Message     string
	ClientToken string // echoed in the error document, if the request sent a valid one
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Message) }

// Result is the outcome of one operation: the answer for its accepted or
// rejected topic and, after an accepted update, the messages for
// update/delta and update/documents.
type Result struct {
	Err *Error // nil: accepted
	// Payload is the accepted document, or the error document.
	Payload []byte
	// Delta is the update/delta document, nil if none is due.
	Delta []byte
	// Documents is the update/documents document, nil unless an update
	// was accepted.
	Documents []byte
	// Version is the shadow's version after the operation (for a delete,
	// the version that was deleted).
	Version int64
}

// Code returns the result's HTTP status code: 200 if accepted.
func (r Result) Code() int {
	if r.Err == nil {
		return 200
	}
	return r.Err.Code
}

// Store holds the shadows. It is safe for concurrent use; operations take
// effect one at a time.
type Store struct {
	limits Limits

	mu      sync.Mutex // guards shadows
	shadows map[shadowtopic.Shadow]*shadow
}

// shadow is one stored shadow. A deleted one keeps its version.
type shadow struct {
	exists                bool
	version               int64
	desired, reported     map[string]any // nil: no such section
	metaDesired, metaRptd map[string]any
}

// NewStore returns an empty store; zero limits take the defaults.
func NewStore(l Limits) *Store {
	if l.MaxDocumentBytes <= 0 {
		l.MaxDocumentBytes = DefaultMaxDocumentBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return &Store{limits: l, shadows: make(map[shadowtopic.Shadow]*shadow)}
}

// Do runs op on the shadow with the request payload, at now (the
// timestamps are now's Unix seconds).
func (s *Store) Do(op shadowtopic.Op, sh shadowtopic.Shadow, payload []byte, now time.Time) Result {
	if err := sh.Validate(); err != nil {
		return s.rejected(sh, &Error{Code: 400, Message: "Invalid shadow: " + err.Error()})
	}
	switch op {
	case shadowtopic.Get:
		return s.get(sh, payload, now.Unix())
	case shadowtopic.Update:
		return s.update(sh, payload, now.Unix())
	case shadowtopic.Delete:
		return s.delete(sh, payload, now.Unix())
	}
	return s.rejected(sh, &Error{Code: 400, Message: fmt.Sprintf("Unknown operation %q", op)})
}

// Throttled answers a request refused because its connection has too many
// requests in flight: 429, echoing the request's clientToken.
func (s *Store) Throttled(sh shadowtopic.Shadow, payload []byte, limit int) Result {
	req, _, _ := parseRequest(payload, true)
	return s.rejected(sh, req.fail(429, fmt.Sprintf(msgTooManyInFlight, limit)))
}

// rejected answers a request with e.
func (s *Store) rejected(sh shadowtopic.Shadow, e *Error) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	var version int64
	if st := s.shadows[sh]; st != nil {
		version = st.version
	}
	return errorResult(version, e)
}

// errorResult is the result of a rejected request to a shadow at version.
func errorResult(version int64, e *Error) Result {
	return Result{Err: e, Version: version,
		Payload: encode(errorDocument{Code: e.Code, Message: e.Message, ClientToken: e.ClientToken})}
}

func notFound(sh shadowtopic.Shadow, token string) *Error {
	return &Error{Code: 404, Message: fmt.Sprintf("No shadow exists with name: '%s'", sh), ClientToken: token}
}

func (s *Store) get(sh shadowtopic.Shadow, payload []byte, ts int64) Result {
	return s.existing(sh, payload, false, func(st *shadow, token string) Result {
		doc := fullDocument{
			State:    sections{Desired: st.desired, Reported: st.reported, Delta: delta(st.desired, st.reported)},
			Metadata: sections{Desired: st.metaDesired, Reported: st.metaRptd},
			Version:  st.version, Timestamp: ts, ClientToken: token,
		}
		return Result{Payload: encode(doc), Version: st.version}
	})
}

func (s *Store) delete(sh shadowtopic.Shadow, payload []byte, ts int64) Result {
	// "The content of the message is ignored", but for its token: lenient.
	return s.existing(sh, payload, true, func(st *shadow, token string) Result {
		*st = shadow{version: st.version}
		return Result{Version: st.version, Payload: encode(deletedDocument{Version: st.version, Timestamp: ts, ClientToken: token})}
	})
}

// existing runs op, with s.mu held, on the stored shadow a get or delete
// request names, or answers 404 if there is none (or the request is
// invalid, with its error).
func (s *Store) existing(sh shadowtopic.Shadow, payload []byte, lenient bool, op func(st *shadow, token string) Result) Result {
	req, _, err := parseRequest(payload, lenient)
	if err != nil {
		return s.rejected(sh, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.shadows[sh]
	if st == nil {
		return errorResult(0, notFound(sh, req.token))
	}
	if !st.exists {
		return errorResult(st.version, notFound(sh, req.token))
	}
	return op(st, req.token)
}

func (s *Store) update(sh shadowtopic.Shadow, payload []byte, ts int64) Result {
	req, err := parseUpdate(payload, s.limits.MaxDepth)
	if err != nil {
		return s.rejected(sh, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.shadows[sh]
	if old == nil {
		old = &shadow{}
	}
	if req.hasVersion && req.version != old.version {
		return errorResult(old.version, req.fail(409, msgVersionConflict))
	}
	next := &shadow{exists: true, version: old.version + 1}
	if req.state != nil { // "state": null empties both sections
		next.desired, next.metaDesired = applySection(old.desired, old.metaDesired, req.desired, req.hasDesired, ts)
		next.reported, next.metaRptd = applySection(old.reported, old.metaRptd, req.reported, req.hasReport, ts)
	}
	if size := len(encode(sections{Desired: next.desired, Reported: next.reported})); size > s.limits.MaxDocumentBytes {
		return errorResult(old.version, req.fail(413, msgTooLarge))
	}
	s.shadows[sh] = next

	res := Result{Version: next.version}
	var stateEcho, metaEcho any = req.state, map[string]any{}
	if req.state != nil {
		metaEcho = metadataOf(req.state, ts)
	}
	res.Payload = encode(acceptedDocument{State: stateEcho, Metadata: metaEcho, Version: next.version, Timestamp: ts, ClientToken: req.token})
	res.Documents = encode(documentsDocument{
		Previous:  snapshotOf(old),
		Current:   snapshotOf(next),
		Timestamp: ts, ClientToken: req.token,
	})
	if d := delta(next.desired, next.reported); len(d) > 0 && (req.desired != nil || s.limits.DeltaOnReportedUpdates) {
		res.Delta = encode(acceptedDocument{State: d, Metadata: restrict(next.metaDesired, d), Version: next.version, Timestamp: ts, ClientToken: req.token})
	}
	return res
}

// applySection returns a stored section and its metadata after an update:
// untouched if the request did not name it, gone if it sent null, merged
// otherwise. The stored maps are not modified.
func applySection(stored, meta, update map[string]any, named bool, ts int64) (map[string]any, map[string]any) {
	switch {
	case !named:
		return stored, meta
	case update == nil:
		return nil, nil
	}
	out, outMeta := cloneMap(stored), cloneMap(meta)
	if out == nil {
		out, outMeta = map[string]any{}, map[string]any{}
	}
	merge(out, outMeta, update, ts)
	return out, outMeta
}

func snapshotOf(st *shadow) snapshot {
	return snapshot{
		State:    sections{Desired: st.desired, Reported: st.reported},
		Metadata: sections{Desired: st.metaDesired, Reported: st.metaRptd},
		Version:  st.version,
	}
}
