package shadow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/shadowtopic"
)

// DefaultTimeout is how long a request waits for its answer unless told
// otherwise: 5 s, what AWS's basicShadow samples pass.
const DefaultTimeout = 5 * time.Second

// maxClientTokenBytes is the longest clientToken AWS IoT accepts.
const maxClientTokenBytes = 64

// Config configures a Handler.
type Config struct {
	// ThingName is the thing whose shadow it is (Python's shadowName).
	// Required; at most 128 bytes of a-z, A-Z, 0-9, ':', '_', '-'.
	ThingName string
	// ShadowName selects one of the thing's named shadows; "" (the
	// default) is its classic shadow. At most 64 bytes, same characters.
	ShadowName string
	// PersistentSubscribe keeps an operation's response subscriptions once
	// made (Python's isPersistentSubscribe); otherwise they last while a
	// request of that operation waits.
	PersistentSubscribe bool
	// Timeout bounds the wait for an answer (default DefaultTimeout): of
	// the synchronous calls when their context has no earlier deadline,
	// and of the asynchronous ones given no timeout of their own.
	Timeout time.Duration
	// Logger receives what the handler ignores or recovers (answers for
	// other requests, stale deltas, panicking callbacks), at Debug and
	// Error. Default: discarded.
	Logger *slog.Logger
}

// Handler is one device shadow: Python's deviceShadow. Create it with
// NewHandler; it is safe for concurrent use. One Handler per shadow per
// client: two would share the response subscriptions, and the client routes
// a topic's messages to one callback.
type Handler struct {
	c       *client.Client
	sh      shadowtopic.Shadow
	persist bool
	timeout time.Duration
	log     *slog.Logger

	mu           sync.Mutex // guards the fields below
	pending      map[string]*pending
	ops          map[shadowtopic.Op]*opState
	version      int64
	delta        Callback
	lastCallback chan struct{} // closed when the latest queued callback has run
}

// pending is a request waiting for its answer.
type pending struct {
	op      shadowtopic.Op
	deliver func(Response) // called once, without h.mu
	timer   *time.Timer    // asynchronous requests' timeout
}

// opState is the subscription state of one operation's response topics.
type opState struct {
	subscribed bool // SUBSCRIBEs sent for accepted and rejected, not refused since
	waiting    int  // requests of this operation waiting for an answer
}

// NewHandler returns the handler of one shadow, served over c (Python's
// createShadowHandlerWithName). It subscribes to nothing yet.
func NewHandler(c *client.Client, cfg Config) (*Handler, error) {
	sh := shadowtopic.Shadow{Thing: cfg.ThingName, Name: cfg.ShadowName}
	switch err := sh.Validate(); {
	case c == nil:
		return nil, errors.New("shadow: NewHandler needs a client")
	case err != nil:
		return nil, fmt.Errorf("shadow: %w", err)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("shadow: Timeout %v is negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Handler{
		c: c, sh: sh, persist: cfg.PersistentSubscribe, timeout: cfg.Timeout, log: cfg.Logger,
		pending: make(map[string]*pending),
		ops:     map[shadowtopic.Op]*opState{shadowtopic.Get: {}, shadowtopic.Update: {}, shadowtopic.Delete: {}},
	}, nil
}

// Version returns the newest shadow version the handler has seen in an
// accepted answer or a delta, 0 if none (or since an accepted delete).
func (h *Handler) Version() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.version
}

// Get requests the shadow document (Python's shadowGet) and waits for the
// answer, bounded by ctx and Config.Timeout. A rejection (404 if there is
// no shadow) is a *RejectedError; no answer in time is client.ErrTimeout.
// The Response is returned in every case.
func (h *Handler) Get(ctx context.Context) (Response, error) {
	return h.call(ctx, shadowtopic.Get, nil)
}

// Update sends a request state document, {"state":{"desired":{…}}} or
// {"state":{"reported":{…}}} (Python's shadowUpdate), and waits as Get
// does. The document's clientToken is used if it has one, otherwise one is
// added. A document that is not a JSON object is ErrInvalidDocument.
func (h *Handler) Update(ctx context.Context, document []byte) (Response, error) {
	return h.call(ctx, shadowtopic.Update, document)
}

// Delete deletes the shadow (Python's shadowDelete) and waits as Get does.
func (h *Handler) Delete(ctx context.Context) (Response, error) {
	return h.call(ctx, shadowtopic.Delete, nil)
}

// GetAsync requests the shadow document and returns its clientToken at
// once; callback receives the answer, or a Timeout response once timeout
// (0: Config.Timeout) has passed without one. Python's
// shadowGet(srcCallback, srcTimeout).
func (h *Handler) GetAsync(callback Callback, timeout time.Duration) (string, error) {
	return h.callAsync(shadowtopic.Get, nil, callback, timeout)
}

// UpdateAsync sends a request state document as Update does, returning at
// once as GetAsync does. Python's shadowUpdate(srcJSONPayload,
// srcCallback, srcTimeout).
func (h *Handler) UpdateAsync(document []byte, callback Callback, timeout time.Duration) (string, error) {
	return h.callAsync(shadowtopic.Update, document, callback, timeout)
}

// DeleteAsync deletes the shadow, returning at once as GetAsync does.
// Python's shadowDelete(srcCallback, srcTimeout).
func (h *Handler) DeleteAsync(callback Callback, timeout time.Duration) (string, error) {
	return h.callAsync(shadowtopic.Delete, nil, callback, timeout)
}

// RegisterDeltaCallback subscribes to the shadow's update/delta topic and
// gives callback every delta newer than the version the handler has seen
// (Python's shadowRegisterDeltaCallback); it waits for the SUBACK like
// client.Subscribe (offline, the subscription is queued and nil returned).
// A second call replaces the callback.
func (h *Handler) RegisterDeltaCallback(ctx context.Context, callback Callback) error {
	h.mu.Lock()
	h.delta = callback
	h.mu.Unlock()
	out, err := h.c.Subscribe(ctx, h.sh.Response(shadowtopic.Update, shadowtopic.Delta), client.QoS1, h.onDelta)
	if out == client.NotAccepted || out == client.Rejected {
		h.mu.Lock()
		h.delta = nil
		h.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("shadow: register delta callback: %w", err)
	}
	return nil
}

// UnregisterDeltaCallback stops the deltas: it unsubscribes from the delta
// topic, waiting like client.Unsubscribe (Python's
// shadowUnregisterDeltaCallback).
func (h *Handler) UnregisterDeltaCallback(ctx context.Context) error {
	h.mu.Lock()
	h.delta = nil
	h.mu.Unlock()
	if _, err := h.c.Unsubscribe(ctx, h.sh.Response(shadowtopic.Update, shadowtopic.Delta)); err != nil {
		return fmt.Errorf("shadow: unregister delta callback: %w", err)
	}
	return nil
}
