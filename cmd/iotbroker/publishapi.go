package main

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/iotmqtt/iotmqtt/broker"
)

// maxPayload is AWS IoT Core's payload limit, 128 KiB.
const maxPayload = 128 << 10

// publish is POST /publish?topic=T&qos=0|1&retain=true|false with the
// payload as the body: a message from the broker itself.
func (c *control) publish(r *http.Request, q url.Values) (any, error) {
	topic := q.Get("topic")
	if msg := topicProblem(topic); msg != "" {
		return nil, fail(http.StatusBadRequest, "topic %q: %s", topic, msg)
	}
	qos := byte(0)
	switch q.Get("qos") {
	case "", "0":
	case "1":
		qos = 1
	default:
		return nil, fail(http.StatusBadRequest, "qos %q: give 0 or 1 (AWS IoT Core has no QoS 2)", q.Get("qos"))
	}
	retain := false
	if s := q.Get("retain"); s != "" {
		var err error
		if retain, err = strconv.ParseBool(s); err != nil {
			return nil, fail(http.StatusBadRequest, "retain %q: give true or false", s)
		}
	}
	payload, err := readBody(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	out := map[string]any{"topic": topic, "qos": qos, "retain": retain, "bytes": len(payload)}
	switch err := c.b.Publish(ctx, topic, payload, qos, retain); {
	case errors.Is(err, broker.ErrPublishBlocked):
		return nil, fail(http.StatusGatewayTimeout, "%v (the message is still published once the stuck subscriber's write gets through or its link closes)", err)
	case errors.Is(err, broker.ErrDropped):
		out["dropped"] = err.Error() // delivered to the others; the DROPPED events say more
	case err != nil:
		return nil, err
	}
	return out, nil
}

// readBody reads a request's body, up to AWS IoT Core's payload limit.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	switch {
	case err != nil:
		return nil, fail(http.StatusBadRequest, "body: %v", err)
	case len(body) > maxPayload:
		return nil, fail(http.StatusRequestEntityTooLarge, "body larger than %d bytes (AWS IoT Core's payload limit)", maxPayload)
	}
	return body, nil
}

// topicProblem says what is wrong with a topic to publish to, if anything.
func topicProblem(topic string) string {
	switch {
	case topic == "":
		return "give ?topic=T, the topic to publish to"
	case strings.ContainsAny(topic, "+#"):
		return "a topic to publish to has no wildcards (+ and #)"
	case !utf8.ValidString(topic) || strings.ContainsRune(topic, 0):
		return "not valid UTF-8 without NUL"
	case len(topic) > 65535:
		return "longer than MQTT's 65535 bytes"
	}
	return ""
}
