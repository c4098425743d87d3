package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"

	"github.com/iotmqtt/iotmqtt/broker"
)

// The shadow endpoints follow AWS IoT's data plane (GetThingShadow,
// UpdateThingShadow, DeleteThingShadow): /things/{thing}/shadow, with
// ?name=N for a named shadow. They answer the shadow document as the
// service does, and a rejection with the service's status code.

// getShadow is GET /things/{thing}/shadow[?name=N].
func (c *control) getShadow(r *http.Request, q url.Values) (any, error) {
	doc, err := c.b.Shadow(r.PathValue("thing"), q.Get("name"))
	return shadowAnswer(doc, err)
}

// updateShadow is POST /things/{thing}/shadow[?name=N] with a request state
// document ({"state":{"desired":{…}}}) as the body; subscribers get the
// same notifications as for an update over MQTT.
func (c *control) updateShadow(r *http.Request, q url.Values) (any, error) {
	doc, err := readBody(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	out, err := c.b.UpdateShadow(ctx, r.PathValue("thing"), q.Get("name"), doc)
	return shadowAnswer(out, err)
}

// deleteShadow is DELETE /things/{thing}/shadow[?name=N].
func (c *control) deleteShadow(r *http.Request, q url.Values) (any, error) {
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	out, err := c.b.DeleteShadow(ctx, r.PathValue("thing"), q.Get("name"))
	return shadowAnswer(out, err)
}

// shadowAnswer turns the shadow service's answer into the endpoint's: the
// document, or the rejection with its status code.
func shadowAnswer(doc []byte, err error) (any, error) {
	var rejected *broker.ShadowError
	switch {
	case errors.As(err, &rejected):
		return nil, fail(rejected.Code, "%v", err)
	case errors.Is(err, broker.ErrShadowOff):
		return nil, fail(http.StatusConflict, "%v: iotbroker runs with --shadow=false", err)
	case errors.Is(err, broker.ErrPublishBlocked):
		return nil, fail(http.StatusGatewayTimeout, "%v (the change stands; its notifications go out once the stuck subscriber's write gets through or its link closes)", err)
	case err != nil:
		return nil, err
	}
	return json.RawMessage(doc), nil
}
