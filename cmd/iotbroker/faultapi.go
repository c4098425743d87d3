package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/iotmqtt/iotmqtt/broker"
)

// faultJSON is a switch that is on.
type faultJSON struct {
	Kind       string `json:"kind"`
	ReturnCode byte   `json:"return_code,omitempty"`
	Filter     string `json:"filter,omitempty"`
}

// faultsOn lists the switches that are on.
func (c *control) faultsOn() []faultJSON {
	out := []faultJSON{}
	for _, f := range c.b.Faults() {
		out = append(out, faultJSON{Kind: string(f.Kind), ReturnCode: f.ReturnCode, Filter: f.Filter})
	}
	return out
}

func (c *control) listFaults(w http.ResponseWriter, r *http.Request) {
	if _, ok := params(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, c.faultsOn())
}

// switchNames lists the switches for error messages.
func switchNames() string {
	names := make([]string, len(switchKinds))
	for i, k := range switchKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// switchFault is PUT /faults/{kind} (on) and DELETE /faults/{kind} (off).
// reject-connect takes ?code=1..5 when switched on; refuse-subscription
// takes ?filter=F both ways.
func (c *control) switchFault(w http.ResponseWriter, r *http.Request) {
	on := r.Method == http.MethodPut
	kind := broker.FaultKind(r.PathValue("kind"))
	if !slices.Contains(switchKinds, kind) {
		writeError(w, http.StatusNotFound, "no fault %q to switch on or off; the switches are %s "+
			"(cuts, disconnects and restarts are actions: POST /cut, POST /clients/{id}/cut, POST /clients/{id}/disconnect, POST /restart)", kind, switchNames())
		return
	}
	f := broker.Fault{Kind: kind}
	switch {
	case kind == broker.FaultRejectConnect && on:
		q, ok := params(w, r, "code")
		if !ok {
			return
		}
		code, err := strconv.ParseUint(q.Get("code"), 10, 8)
		if err != nil || code < 1 || code > 5 {
			writeError(w, http.StatusBadRequest, "reject-connect needs ?code=N, the CONNACK return code: 1 (protocol version), 2 (client id), 3 (server unavailable), 4 (user name or password), 5 (not authorized); got %q", q.Get("code"))
			return
		}
		f = broker.RejectConnect(byte(code))
	case kind == broker.FaultRejectConnect:
		if _, ok := params(w, r); !ok {
			return
		}
		f = broker.RejectConnect(5) // off clears it, whatever the code
	case kind == broker.FaultRefuseSubscription:
		q, ok := params(w, r, "filter")
		if !ok {
			return
		}
		if q.Get("filter") == "" {
			writeError(w, http.StatusBadRequest, "refuse-subscription needs ?filter=F, the topic filter to refuse (URL-encoded: # is %%23, + is %%2B)")
			return
		}
		f = broker.RefuseSubscription(q.Get("filter"))
	default:
		if _, ok := params(w, r); !ok {
			return
		}
	}
	if err := c.b.SetFault(f, on); err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"fault": f.String(), "on": on, "faults": c.faultsOn()})
}

// maxCredentialsBody bounds the body of PUT /websocket/credentials.
const maxCredentialsBody = 64 << 10

// setWebSocketCredentials replaces the SigV4 credentials the WebSocket
// listener accepts with the body, {"ACCESS_KEY_ID": "SECRET", ...}; {}
// refuses every signature.
func (c *control) setWebSocketCredentials(w http.ResponseWriter, r *http.Request) {
	if _, ok := params(w, r); !ok {
		return
	}
	if c.b.WebSocket() == nil {
		writeError(w, http.StatusConflict, "no WebSocket listener: start iotbroker with --wss ADDR")
		return
	}
	creds, err := readCredentials(http.MaxBytesReader(w, r.Body, maxCredentialsBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "body: %v", err)
		return
	}
	c.b.SetWebSocketCredentials(creds)
	writeJSON(w, http.StatusOK, map[string]any{"access_key_ids": len(creds)})
}

// readCredentials decodes {"ACCESS_KEY_ID": "SECRET", ...}.
func readCredentials(body io.Reader) (map[string]string, error) {
	var creds map[string]string
	dec := json.NewDecoder(body)
	if err := dec.Decode(&creds); err != nil {
		return nil, fmt.Errorf(`want a JSON object {"ACCESS_KEY_ID": "SECRET_ACCESS_KEY", ...}: %v`, err)
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	if creds == nil {
		return nil, errors.New(`want a JSON object {"ACCESS_KEY_ID": "SECRET_ACCESS_KEY", ...}, got null`)
	}
	for id, secret := range creds {
		if id == "" || secret == "" {
			return nil, fmt.Errorf("access key id %q: neither it nor its secret may be empty", id)
		}
	}
	return creds, nil
}
