package main

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/iotmqtt/iotmqtt/broker"
)

// maxPayload is AWS IoT Core's payload limit, 128 KiB.
const maxPayload = 128 << 10

// publish is POST /publish?topic=T&qos=0|1&retain=true|false with the
// payload as the body: a message from the broker itself.
func (c *control) publish(w http.ResponseWriter, r *http.Request) {
	q, ok := params(w, r, "topic", "qos", "retain")
	if !ok {
		return
	}
	topic := q.Get("topic")
	if msg := topicProblem(topic); msg != "" {
		writeError(w, http.StatusBadRequest, "topic %q: %s", topic, msg)
		return
	}
	qos := byte(0)
	switch q.Get("qos") {
	case "", "0":
	case "1":
		qos = 1
	default:
		writeError(w, http.StatusBadRequest, "qos %q: give 0 or 1 (AWS IoT Core has no QoS 2)", q.Get("qos"))
		return
	}
	retain := false
	if s := q.Get("retain"); s != "" {
		var err error
		if retain, err = strconv.ParseBool(s); err != nil {
			writeError(w, http.StatusBadRequest, "retain %q: give true or false", s)
			return
		}
	}
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "payload larger than %d bytes (AWS IoT Core's limit)", maxPayload)
			return
		}
		writeError(w, http.StatusBadRequest, "payload: %v", err)
		return
	}
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	out := map[string]any{"topic": topic, "qos": qos, "retain": retain, "bytes": len(payload)}
	switch err := c.b.Publish(ctx, topic, payload, qos, retain); {
	case errors.Is(err, broker.ErrPublishBlocked):
		writeError(w, http.StatusGatewayTimeout, "%v (the message is still published once the stuck subscriber's write gets through or its link closes)", err)
		return
	case errors.Is(err, broker.ErrDropped):
		out["dropped"] = err.Error() // delivered to the others; the DROPPED events say more
	case err != nil:
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
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
