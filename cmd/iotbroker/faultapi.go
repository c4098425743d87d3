package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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

func (c *control) listFaults(*http.Request, url.Values) (any, error) { return c.faultsOn(), nil }

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
// takes ?filter=F both ways, withhold-puback optionally (only the topics F
// matches); the others take nothing.
func (c *control) switchFault(r *http.Request, q url.Values) (any, error) {
	on := r.Method == http.MethodPut
	f, err := faultFrom(r, q, on)
	if err != nil {
		return nil, err
	}
	if err := c.b.SetFault(f, on); err != nil {
		return nil, err
	}
	return map[string]any{"fault": f.String(), "on": on, "faults": c.faultsOn()}, nil
}

// faultFrom reads the switch a request names, and its parameter.
func faultFrom(r *http.Request, q url.Values, on bool) (broker.Fault, error) {
	kind := broker.FaultKind(r.PathValue("kind"))
	if !slices.Contains(switchKinds, kind) {
		return broker.Fault{}, fail(http.StatusNotFound, "no fault %q to switch on or off; the switches are %s "+
			"(cuts, disconnects and restarts are actions: POST /cut, POST /clients/{id}/cut, POST /clients/{id}/disconnect, POST /restart)", kind, switchNames())
	}
	var takes []string
	switch {
	case kind == broker.FaultRefuseSubscription, kind == broker.FaultWithholdPuback:
		takes = []string{"filter"}
	case kind == broker.FaultRejectConnect && on:
		takes = []string{"code"}
	}
	if err := checkParams(r, q, takes); err != nil {
		return broker.Fault{}, err
	}
	switch {
	case kind == broker.FaultRejectConnect && on:
		code, err := strconv.ParseUint(q.Get("code"), 10, 8)
		if err != nil || code < 1 || code > 5 {
			return broker.Fault{}, fail(http.StatusBadRequest, "reject-connect needs ?code=N, the CONNACK return code: 1 (protocol version), 2 (client id), 3 (server unavailable), 4 (user name or password), 5 (not authorized); got %q", q.Get("code"))
		}
		return broker.RejectConnect(byte(code)), nil
	case kind == broker.FaultRejectConnect:
		return broker.RejectConnect(5), nil // off clears it, whatever the code
	case kind == broker.FaultRefuseSubscription:
		if q.Get("filter") == "" {
			return broker.Fault{}, fail(http.StatusBadRequest, "refuse-subscription needs ?filter=F, the topic filter to refuse (URL-encoded: # is %%23, + is %%2B)")
		}
		return broker.RefuseSubscription(q.Get("filter")), nil
	case kind == broker.FaultWithholdPuback && q.Get("filter") != "":
		return broker.WithholdPubackOn(q.Get("filter")), nil
	}
	return broker.Fault{Kind: kind}, nil
}

// maxCredentialsBody bounds the body of PUT /websocket/credentials.
const maxCredentialsBody = 64 << 10

// setWebSocketCredentials replaces the SigV4 credentials the WebSocket
// listener accepts with the body, {"ACCESS_KEY_ID": "SECRET", ...}; {}
// refuses every signature.
func (c *control) setWebSocketCredentials(r *http.Request, _ url.Values) (any, error) {
	if c.b.WebSocket() == nil {
		return nil, fail(http.StatusConflict, "no WebSocket listener: start iotbroker with --wss ADDR")
	}
	creds, err := readCredentials(io.LimitReader(r.Body, maxCredentialsBody))
	if err != nil {
		return nil, fail(http.StatusBadRequest, "body: %v", err)
	}
	c.b.SetWebSocketCredentials(creds)
	return map[string]any{"access_key_ids": len(creds)}, nil
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
