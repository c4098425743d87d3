package shadowdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// MaxClientTokenBytes is the longest clientToken AWS accepts.
const MaxClientTokenBytes = 64

// AWS's error messages (device-shadow-error-messages.html).
const (
	msgInvalidJSON     = "Invalid JSON"
	msgMissingState    = "Missing required node: state"
	msgStateNotObject  = "State node must be an object"
	msgInvalidVersion  = "Invalid version"
	msgInvalidToken    = "Invalid clientToken"
	msgInvalidNode     = "State contains an invalid node"
	msgVersionConflict = "Version conflict"
	msgTooLarge        = "The payload exceeds the maximum size allowed"
	msgEncoding        = "Unsupported documented encoding; supported encoding is UTF-8"
	msgTooManyInFlight = "Too many in-flight requests on this connection; the limit is %d"
)

// request is what a request document says.
type request struct {
	token      string
	hasToken   bool
	version    int64
	hasVersion bool
	// update only: the state node ("state": null has hasState and a nil
	// state), and which sections it names (a section named with null has
	// has* true and a nil map).
	hasState              bool
	state                 map[string]any
	desired, reported     map[string]any
	hasDesired, hasReport bool
}

// parseRequest reads the fields every request may carry: clientToken and
// version. An empty payload is an empty request (get and delete may send
// one). lenient (delete, whose content AWS ignores) treats a payload that
// is not a JSON object as an empty request.
func parseRequest(payload []byte, lenient bool) (request, map[string]any, *Error) {
	var req request
	if len(bytes.TrimSpace(payload)) == 0 {
		return req, nil, nil
	}
	if !utf8.Valid(payload) && !lenient {
		return req, nil, &Error{Code: 415, Message: msgEncoding}
	}
	root, ok := decodeObject(payload)
	if !ok {
		if lenient {
			return req, nil, nil
		}
		return req, nil, &Error{Code: 400, Message: msgInvalidJSON}
	}
	if v, ok := root["clientToken"]; ok {
		s, isString := v.(string)
		if !isString || len(s) > MaxClientTokenBytes {
			return req, nil, &Error{Code: 400, Message: msgInvalidToken}
		}
		req.token, req.hasToken = s, true
	}
	if v, ok := root["version"]; ok {
		n, isNumber := v.(json.Number)
		version, err := strconv.ParseInt(string(n), 10, 64)
		if !isNumber || err != nil || version < 0 {
			return req, nil, req.fail(400, msgInvalidVersion)
		}
		req.version, req.hasVersion = version, true
	}
	return req, root, nil
}

// parseUpdate reads an update request and checks its state node against
// AWS's rules and the limits.
func parseUpdate(payload []byte, maxDepth int) (request, *Error) {
	if len(bytes.TrimSpace(payload)) == 0 {
		return request{}, &Error{Code: 400, Message: msgInvalidJSON}
	}
	req, root, err := parseRequest(payload, false)
	if err != nil {
		return req, err
	}
	state, ok := root["state"]
	if !ok {
		return req, req.fail(400, msgMissingState)
	}
	req.hasState = true
	if state == nil {
		return req, nil // "state": null empties the shadow
	}
	if req.state, ok = state.(map[string]any); !ok {
		return req, req.fail(400, msgStateNotObject)
	}
	for k := range req.state {
		if k != "desired" && k != "reported" {
			return req, req.fail(400, msgInvalidNode)
		}
	}
	if req.desired, req.hasDesired, err = req.section("desired", maxDepth); err != nil {
		return req, err
	}
	if req.reported, req.hasReport, err = req.section("reported", maxDepth); err != nil {
		return req, err
	}
	return req, nil
}

// section reads state.desired or state.reported.
func (r *request) section(name string, maxDepth int) (map[string]any, bool, *Error) {
	v, ok := r.state[name]
	if !ok || v == nil {
		return nil, ok, nil
	}
	m, isMap := v.(map[string]any)
	switch {
	case !isMap:
		return nil, true, r.fail(400, fmt.Sprintf("%s node must be an object", capitalized(name)))
	case hasNullInArray(m):
		return nil, true, r.fail(400, msgInvalidJSON)
	case depth(m) > maxDepth:
		return nil, true, r.fail(400, fmt.Sprintf("JSON contains too many levels of nesting; maximum is %d", maxDepth))
	}
	return m, true, nil
}

func capitalized(s string) string { return string(s[0]-'a'+'A') + s[1:] }

// fail returns an error answering r, echoing its clientToken.
func (r *request) fail(code int, message string) *Error {
	return &Error{Code: code, Message: message, ClientToken: r.token}
}

// decodeObject decodes payload, which must be exactly one JSON object.
func decodeObject(payload []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok
}
