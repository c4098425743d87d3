package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
)

// control is the HTTP control API and the live page.
type control struct {
	b       *broker.Broker
	kit     *kit
	clients *clientTracker
	info    func() readyInfo
	started time.Time
}

// routes lists every endpoint (net/http's method and pattern routing).
func (c *control) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", servePage)
	mux.Handle("GET /static/", staticFiles())
	mux.HandleFunc("GET /health", c.health)
	mux.HandleFunc("GET /info", c.getInfo)
	mux.HandleFunc("GET /clients", c.listClients)
	mux.HandleFunc("POST /clients/{id}/cut", c.cutClient)
	mux.HandleFunc("POST /clients/{id}/disconnect", c.disconnectClient)
	mux.HandleFunc("POST /cut", c.cutAll)
	mux.HandleFunc("POST /restart", c.restart)
	mux.HandleFunc("GET /faults", c.listFaults)
	mux.HandleFunc("PUT /faults/{kind}", c.switchFault)
	mux.HandleFunc("DELETE /faults/{kind}", c.switchFault)
	mux.HandleFunc("PUT /websocket/credentials", c.setWebSocketCredentials)
	mux.HandleFunc("POST /publish", c.publish)
	mux.HandleFunc("GET /events", c.events)
	mux.HandleFunc("GET /events/stream", c.stream)
	mux.HandleFunc("GET /things", c.listThings)
	mux.HandleFunc("POST /things/{name}", c.issueThing)
	mux.Handle("/", elsewhere{mux})
	return mux
}

// endpointList is what notFound offers instead.
const endpointList = "GET /health, GET /info, GET /clients, POST /clients/{id}/cut, POST /clients/{id}/disconnect, " +
	"POST /cut, POST /restart, GET /faults, PUT|DELETE /faults/{kind}, PUT /websocket/credentials, POST /publish, " +
	"GET /events, GET /events/stream, GET /things, POST /things/{name}, GET / (the live page)"

// elsewhere answers a request no endpoint took: 405 naming the methods
// the path takes, or 404 listing the endpoints.
type elsewhere struct{ mux *http.ServeMux }

func (e elsewhere) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := e.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "%s %s: this path takes %s", r.Method, r.URL.Path, strings.Join(allow, ", "))
		return
	}
	writeError(w, http.StatusNotFound, "no endpoint %s %s; the endpoints are: %s", r.Method, r.URL.Path, endpointList)
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client may be gone; nothing else to do
}

// writeError answers with {"error": message}.
func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// params returns the request's query parameters, or answers 400 naming
// one it does not take.
func params(w http.ResponseWriter, r *http.Request, allowed ...string) (url.Values, bool) {
	q := r.URL.Query()
	for k := range q {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				writeError(w, http.StatusBadRequest, "unknown parameter %q: %s %s takes none", k, r.Method, r.URL.Path)
			} else {
				writeError(w, http.StatusBadRequest, "unknown parameter %q: %s %s takes %s", k, r.Method, r.URL.Path, strings.Join(allowed, ", "))
			}
			return nil, false
		}
	}
	return q, true
}

func (c *control) health(w http.ResponseWriter, r *http.Request) {
	if _, ok := params(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status": "ok", "now": formatTime(time.Now()), "started": formatTime(c.started), "uptime": time.Since(c.started).Round(time.Millisecond).String(),
		"latest_event": c.b.Events.Seq(), "clients": len(c.clients.list(c.b.Mochi())),
	})
}

func (c *control) getInfo(w http.ResponseWriter, r *http.Request) {
	if _, ok := params(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, c.info())
}

func (c *control) listClients(w http.ResponseWriter, r *http.Request) {
	if _, ok := params(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, c.clients.list(c.b.Mochi()))
}

// cutMode reads ?mode=fin|rst (default fin).
func cutMode(w http.ResponseWriter, q url.Values) (broker.CutMode, bool) {
	switch m := strings.ToLower(q.Get("mode")); m {
	case "", "fin":
		return broker.FIN, true
	case "rst":
		return broker.RST, true
	default:
		writeError(w, http.StatusBadRequest, "mode %q: give fin (the client reads EOF) or rst (connection reset)", q.Get("mode"))
		return 0, false
	}
}

func (c *control) cutAll(w http.ResponseWriter, r *http.Request) {
	q, ok := params(w, r, "mode")
	if !ok {
		return
	}
	mode, ok := cutMode(w, q)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"cut": c.b.CutLinks(mode), "mode": mode.String()})
}

func (c *control) cutClient(w http.ResponseWriter, r *http.Request) {
	q, ok := params(w, r, "mode")
	if !ok {
		return
	}
	mode, ok := cutMode(w, q)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if err := c.b.CutClient(id, mode); err != nil {
		writeError(w, http.StatusNotFound, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"cut": id, "mode": mode.String()})
}

func (c *control) disconnectClient(w http.ResponseWriter, r *http.Request) {
	if _, ok := params(w, r); !ok {
		return
	}
	id := r.PathValue("id")
	if err := c.b.DisconnectClient(id); err != nil {
		writeError(w, http.StatusNotFound, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"disconnected": id})
}

func (c *control) restart(w http.ResponseWriter, r *http.Request) {
	if _, ok := params(w, r); !ok {
		return
	}
	if err := c.b.Restart(); err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"restarted": true})
}

func (c *control) listThings(w http.ResponseWriter, r *http.Request) {
	if _, ok := params(w, r); !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"root_ca": c.kit.rootCA(), "things": c.kit.list()})
}

func (c *control) issueThing(w http.ResponseWriter, r *http.Request) {
	if _, ok := params(w, r); !ok {
		return
	}
	name := r.PathValue("name")
	if !thingName.MatchString(name) {
		writeError(w, http.StatusBadRequest, "thing name %q: a thing name is 1-128 letters, digits, ':', '_' or '-'", name)
		return
	}
	t, reason, err := c.kit.issue(name)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	status := http.StatusCreated
	if t.Reused {
		status = http.StatusOK
	}
	out := map[string]any{"root_ca": c.kit.rootCA(), "thing": t}
	if reason != "" {
		out["replaced"] = reason
	}
	writeJSON(w, status, out)
}

// requestTimeout bounds what a request waits for in the broker.
const requestTimeout = 5 * time.Second

// withTimeout bounds ctx by requestTimeout.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, requestTimeout)
}
