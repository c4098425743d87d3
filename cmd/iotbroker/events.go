package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
)

// Paging of GET /events.
const (
	defaultPage = 1000
	maxPage     = 10000
)

// filterParams are the parameters that select events, on both forms.
var filterParams = []string{"kind", "client", "topic", "fault"}

// eventMatch reads ?after=N and the filters.
func eventMatch(q url.Values) (broker.Match, error) {
	var m broker.Match
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return m, fail(http.StatusBadRequest, "after %q: give the sequence number of the last event seen (0 for all)", s)
		}
		m.After = n
	}
	if s := q.Get("kind"); s != "" {
		if err := m.Kind.UnmarshalText([]byte(s)); err != nil {
			return m, fail(http.StatusBadRequest, "kind: %v", err)
		}
	}
	m.ClientID, m.Topic, m.Fault = q.Get("client"), q.Get("topic"), broker.FaultKind(q.Get("fault"))
	return m, nil
}

// afterSeen fails with 400 if after is beyond the latest event: a
// sequence number from an iotbroker that has since restarted.
func afterSeen(after, latest uint64) error {
	if after > latest {
		return fail(http.StatusBadRequest, "after=%d is beyond the latest event, %d (did iotbroker restart? start again from 0)", after, latest)
	}
	return nil
}

// events is GET /events?after=N&limit=L[&kind=K&client=C&topic=T&fault=F]:
// a page of the events after N. Its "next" is the after of the next page;
// "discarded" counts the oldest events the recorder no longer keeps.
func (c *control) events(_ *http.Request, q url.Values) (any, error) {
	m, err := eventMatch(q)
	if err != nil {
		return nil, err
	}
	limit := defaultPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			return nil, fail(http.StatusBadRequest, "limit %q: give a number from 1 to %d", s, maxPage)
		}
		limit = n
	}
	rec := c.b.Events
	latest := rec.Seq()
	if err := afterSeen(m.After, latest); err != nil {
		return nil, err
	}
	m.Where = func(e broker.Event) bool { return e.Seq <= latest }
	evs := rec.Events(m)
	next := latest
	if len(evs) > limit {
		evs = evs[:limit]
		next = evs[limit-1].Seq
	}
	out := make([]eventJSON, len(evs))
	for i, e := range evs {
		out[i] = toJSON(e)
	}
	return map[string]any{"events": out, "next": next, "latest": latest, "discarded": rec.Discarded()}, nil
}

// streamHeartbeat is how often an idle stream sends a comment, so proxies
// and browsers keep it open.
const streamHeartbeat = 15 * time.Second

// stream is GET /events/stream?after=N[&filters][&format=ndjson]: every
// event after N as it is recorded, as server-sent events (id: seq, data:
// the event) or one JSON object per line. An EventSource's Last-Event-ID
// resumes where it left off.
func (c *control) stream(w http.ResponseWriter, r *http.Request) {
	m, out, err := c.streamRequest(w, r)
	if err != nil {
		writeFailure(w, err)
		return
	}
	flusher := w.(http.Flusher) // streamRequest checked
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()

	for {
		// Follow in rounds of streamHeartbeat; an idle round ends with a
		// heartbeat.
		ctx, cancel := context.WithTimeout(r.Context(), streamHeartbeat)
		err := follow(ctx, c.b.Events, m, func(e broker.Event) error {
			m.After = e.Seq
			if err := out.event(toJSON(e)); err != nil {
				return err
			}
			flusher.Flush()
			return nil
		}, func(from, to uint64) error {
			m.After = to
			err := out.gap(from, to)
			flusher.Flush()
			return err
		})
		cancel()
		if r.Context().Err() != nil || (err != nil && ctx.Err() == nil) {
			return // the client went, or writing to it failed
		}
		if err := out.heartbeat(); err != nil {
			return
		}
		flusher.Flush()
	}
}

// streamRequest reads what a stream request asks for: the events to
// follow, and the form to write them in.
func (c *control) streamRequest(w http.ResponseWriter, r *http.Request) (broker.Match, streamWriter, error) {
	q := r.URL.Query()
	if err := checkParams(r, q, append([]string{"after", "format"}, filterParams...)); err != nil {
		return broker.Match{}, nil, err
	}
	m, err := eventMatch(q)
	if err != nil {
		return m, nil, err
	}
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			return m, nil, fail(http.StatusBadRequest, "Last-Event-ID %q: not a sequence number", id)
		}
		// Beyond the latest event, the id is from before iotbroker
		// restarted: everything is new.
		if m.After = n; n > c.b.Events.Seq() {
			m.After = 0
		}
	} else if err := afterSeen(m.After, c.b.Events.Seq()); err != nil {
		return m, nil, err
	}
	if _, ok := w.(http.Flusher); !ok {
		return m, nil, errors.New("this connection cannot stream")
	}
	switch f := q.Get("format"); f {
	case "", "sse":
		w.Header().Set("Content-Type", "text/event-stream")
		return m, sseWriter{w}, nil
	case "ndjson":
		w.Header().Set("Content-Type", "application/x-ndjson")
		return m, ndjsonWriter{w}, nil
	default:
		return m, nil, fail(http.StatusBadRequest, "format %q: give sse (the default) or ndjson", f)
	}
}

// streamWriter writes one form of the stream.
type streamWriter interface {
	event(eventJSON) error
	gap(from, to uint64) error
	heartbeat() error
}

// sseWriter writes server-sent events.
type sseWriter struct{ w http.ResponseWriter }

func (s sseWriter) event(e eventJSON) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.w, "id: %d\ndata: %s\n\n", e.Seq, data)
	return err
}

func (s sseWriter) gap(from, to uint64) error {
	_, err := fmt.Fprintf(s.w, "event: gap\ndata: {\"from\":%d,\"to\":%d}\n\n", from, to)
	return err
}

func (s sseWriter) heartbeat() error {
	_, err := fmt.Fprint(s.w, ": idle\n\n")
	return err
}

// ndjsonWriter writes one JSON object per line.
type ndjsonWriter struct{ w http.ResponseWriter }

func (n ndjsonWriter) event(e eventJSON) error {
	return json.NewEncoder(n.w).Encode(e)
}

func (n ndjsonWriter) gap(from, to uint64) error {
	_, err := fmt.Fprintf(n.w, "{\"gap\":{\"from\":%d,\"to\":%d}}\n", from, to)
	return err
}

func (n ndjsonWriter) heartbeat() error { return nil }
