package main

import (
	"context"
	"net/http"
	"net/url"
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

// routes lists every endpoint (net/http's method and pattern routing) and
// the query parameters each takes.
func (c *control) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", servePage)
	mux.Handle("GET /static/", staticFiles())
	mux.Handle("GET /health", serve(c.health))
	mux.Handle("GET /info", serve(c.getInfo))
	mux.Handle("GET /clients", serve(c.listClients))
	mux.Handle("POST /clients/{id}/cut", serve(c.cutClient, "mode"))
	mux.Handle("POST /clients/{id}/disconnect", serve(c.disconnectClient))
	mux.Handle("POST /cut", serve(c.cutAll, "mode"))
	mux.Handle("POST /restart", serve(c.restart))
	mux.Handle("GET /faults", serve(c.listFaults))
	mux.Handle("PUT /faults/{kind}", respond(c.switchFault)) // its parameters depend on the fault
	mux.Handle("DELETE /faults/{kind}", respond(c.switchFault))
	mux.Handle("PUT /websocket/credentials", serve(c.setWebSocketCredentials))
	mux.Handle("POST /publish", serve(c.publish, "topic", "qos", "retain"))
	mux.Handle("GET /events", serve(c.events, append([]string{"after", "limit"}, filterParams...)...))
	mux.HandleFunc("GET /events/stream", c.stream)
	mux.Handle("GET /things", serve(c.listThings))
	mux.Handle("POST /things/{name}", serve(c.issueThing))
	mux.Handle("GET /things/{thing}/shadow", serve(c.getShadow, "name"))
	mux.Handle("POST /things/{thing}/shadow", serve(c.updateShadow, "name"))
	mux.Handle("DELETE /things/{thing}/shadow", serve(c.deleteShadow, "name"))
	mux.Handle("/", elsewhere{mux})
	return mux
}

// endpointList is what a request for no endpoint is offered instead.
const endpointList = "GET /health, GET /info, GET /clients, POST /clients/{id}/cut, POST /clients/{id}/disconnect, " +
	"POST /cut, POST /restart, GET /faults, PUT|DELETE /faults/{kind}, PUT /websocket/credentials, POST /publish, " +
	"GET /events, GET /events/stream, GET /things, POST /things/{name}, GET|POST|DELETE /things/{thing}/shadow, GET / (the live page)"

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
		writeFailure(w, fail(http.StatusMethodNotAllowed, "%s %s: this path takes %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	writeFailure(w, fail(http.StatusNotFound, "no endpoint %s %s; the endpoints are: %s", r.Method, r.URL.Path, endpointList))
}

func (c *control) health(*http.Request, url.Values) (any, error) {
	return map[string]any{
		"status": "ok", "now": formatTime(time.Now()), "started": formatTime(c.started), "uptime": time.Since(c.started).Round(time.Millisecond).String(),
		"latest_event": c.b.Events.Seq(), "clients": len(c.clients.list(c.b.Mochi())),
	}, nil
}

func (c *control) getInfo(*http.Request, url.Values) (any, error) { return c.info(), nil }

func (c *control) listClients(*http.Request, url.Values) (any, error) {
	return c.clients.list(c.b.Mochi()), nil
}

// cutMode reads ?mode=fin|rst (default fin).
func cutMode(q url.Values) (broker.CutMode, error) {
	switch strings.ToLower(q.Get("mode")) {
	case "", "fin":
		return broker.FIN, nil
	case "rst":
		return broker.RST, nil
	}
	return 0, fail(http.StatusBadRequest, "mode %q: give fin (the client reads EOF) or rst (connection reset)", q.Get("mode"))
}

func (c *control) cutAll(_ *http.Request, q url.Values) (any, error) {
	mode, err := cutMode(q)
	if err != nil {
		return nil, err
	}
	return map[string]any{"cut": c.b.CutLinks(mode), "mode": mode.String()}, nil
}

func (c *control) cutClient(r *http.Request, q url.Values) (any, error) {
	mode, err := cutMode(q)
	if err != nil {
		return nil, err
	}
	id := r.PathValue("id")
	if err := c.b.CutClient(id, mode); err != nil {
		return nil, fail(http.StatusNotFound, "%v", err)
	}
	return map[string]any{"cut": id, "mode": mode.String()}, nil
}

func (c *control) disconnectClient(r *http.Request, _ url.Values) (any, error) {
	id := r.PathValue("id")
	if err := c.b.DisconnectClient(id); err != nil {
		return nil, fail(http.StatusNotFound, "%v", err)
	}
	return map[string]any{"disconnected": id}, nil
}

func (c *control) restart(*http.Request, url.Values) (any, error) {
	if err := c.b.Restart(); err != nil {
		return nil, err
	}
	return map[string]any{"restarted": true}, nil
}

func (c *control) listThings(*http.Request, url.Values) (any, error) {
	return map[string]any{"root_ca": c.kit.rootCA(), "things": c.kit.list()}, nil
}

func (c *control) issueThing(r *http.Request, _ url.Values) (any, error) {
	name := r.PathValue("name")
	if !thingName.MatchString(name) {
		return nil, fail(http.StatusBadRequest, "thing name %q: a thing name is 1-128 letters, digits, ':', '_' or '-'", name)
	}
	t, reason, err := c.kit.issue(name)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"root_ca": c.kit.rootCA(), "thing": t}
	if reason != "" {
		out["replaced"] = reason
	}
	if t.Reused {
		return out, nil
	}
	return withStatus{http.StatusCreated, out}, nil
}

// requestTimeout bounds what a request waits for in the broker.
const requestTimeout = 5 * time.Second

// withTimeout bounds ctx by requestTimeout.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, requestTimeout)
}
