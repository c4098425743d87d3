package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// endpoint is one route of the control API: it gets the request and its
// query, already checked against the parameters the route takes, and
// returns what to answer as JSON.
type endpoint func(r *http.Request, q url.Values) (any, error)

// apiError is a request's failure: the status to answer with and what is
// wrong.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// fail returns an apiError.
func fail(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// withStatus answers body with a status other than 200.
type withStatus struct {
	status int
	body   any
}

// serve makes an endpoint a handler that refuses query parameters not in
// allowed (see respond).
func serve(fn endpoint, allowed ...string) http.HandlerFunc {
	return respond(func(r *http.Request, q url.Values) (any, error) {
		if err := checkParams(r, q, allowed); err != nil {
			return nil, err
		}
		return fn(r, q)
	})
}

// respond makes an endpoint that checks its own query a handler: it
// answers the endpoint's result as JSON (200, or a withStatus's), or its
// error as {"error": …} (an apiError's status; 500 for others).
func respond(fn endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out, err := fn(r, r.URL.Query())
		if err != nil {
			writeFailure(w, err)
			return
		}
		status := http.StatusOK
		if ws, ok := out.(withStatus); ok {
			status, out = ws.status, ws.body
		}
		writeJSON(w, status, out)
	}
}

// checkParams fails with 400 naming a query parameter not in allowed.
func checkParams(r *http.Request, q url.Values, allowed []string) error {
	for k := range q {
		if slices.Contains(allowed, k) {
			continue
		}
		if len(allowed) == 0 {
			return fail(http.StatusBadRequest, "unknown parameter %q: %s %s takes none", k, r.Method, r.URL.Path)
		}
		return fail(http.StatusBadRequest, "unknown parameter %q: %s %s takes %s", k, r.Method, r.URL.Path, strings.Join(allowed, ", "))
	}
	return nil
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client may be gone; nothing else to do
}

// writeFailure answers err as {"error": …}, with an apiError's status or
// 500.
func writeFailure(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var ae *apiError
	if errors.As(err, &ae) {
		status = ae.status
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
