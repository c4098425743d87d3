package shadowdoc

import (
	"bytes"
	"encoding/json"
)

// The documents the service publishes, with their fields in AWS's order
// (device-shadow-document.md, "Response state documents").

// sections is a state or metadata node: desired and reported, and in a
// get's state the delta.
type sections struct {
	Desired  map[string]any `json:"desired,omitempty"`
	Reported map[string]any `json:"reported,omitempty"`
	Delta    map[string]any `json:"delta,omitempty"`
}

// fullDocument answers a get: the whole shadow.
type fullDocument struct {
	State       sections `json:"state"`
	Metadata    sections `json:"metadata"`
	Version     int64    `json:"version"`
	Timestamp   int64    `json:"timestamp"`
	ClientToken string   `json:"clientToken,omitempty"`
}

// acceptedDocument answers an update: the state the request sent, with its
// metadata. It also carries a delta, the state being the delta and the
// metadata the desired metadata of its fields.
type acceptedDocument struct {
	State       any    `json:"state"`
	Metadata    any    `json:"metadata"`
	Version     int64  `json:"version"`
	Timestamp   int64  `json:"timestamp"`
	ClientToken string `json:"clientToken,omitempty"`
}

// snapshot is the shadow before or after an update, in a documents
// message; it carries no delta.
type snapshot struct {
	State    sections `json:"state"`
	Metadata sections `json:"metadata"`
	Version  int64    `json:"version"`
}

// documentsDocument is published on update/documents after every accepted
// update.
type documentsDocument struct {
	Previous    snapshot `json:"previous"`
	Current     snapshot `json:"current"`
	Timestamp   int64    `json:"timestamp"`
	ClientToken string   `json:"clientToken,omitempty"`
}

// deletedDocument answers a delete.
type deletedDocument struct {
	Version     int64  `json:"version"`
	Timestamp   int64  `json:"timestamp"`
	ClientToken string `json:"clientToken,omitempty"`
}

// errorDocument answers a request the service rejects.
type errorDocument struct {
	Code        int    `json:"code"`
	Message     string `json:"message"`
	ClientToken string `json:"clientToken,omitempty"`
}

// encode renders v as compact JSON without HTML escaping (AWS writes "<"
// as it is).
func encode(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only decoded JSON values and these structs are encoded.
		panic("shadowdoc: encode: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
