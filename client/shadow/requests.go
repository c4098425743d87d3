package shadow

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/shadowtopic"
)

// The life of a request: sent with its subscriptions, waiting under its
// clientToken, settled once — by its answer, its timeout, or a failure to
// send it — and handed to its caller or callback.

// call sends a request and waits for its answer.
func (h *Handler) call(ctx context.Context, op shadowtopic.Op, document []byte) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{Status: Failed, Err: err}, fmt.Errorf("shadow: %s: %w", op, err)
	}
	answered := make(chan Response, 1)
	token, err := h.send(op, document, func(r Response) { answered <- r }, 0)
	if err != nil {
		return Response{Status: Failed, Err: err}, err
	}
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > h.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.timeout)
		defer cancel()
	}
	select {
	case r := <-answered:
		return r, r.Err
	case <-ctx.Done():
	}
	if h.settle(token) == nil {
		r := <-answered // answered meanwhile: deliver has run or is about to
		return r, r.Err
	}
	err = ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		err = client.ErrTimeout
	}
	return Response{Status: Timeout, Token: token, Err: err}, fmt.Errorf("shadow: %s %s: no answer: %w", op, h.sh, err)
}

// callAsync sends a request whose answer goes to callback.
func (h *Handler) callAsync(op shadowtopic.Op, document []byte, callback Callback, timeout time.Duration) (string, error) {
	if timeout <= 0 {
		timeout = h.timeout
	}
	deliver := func(r Response) {
		if callback != nil {
			h.runCallback(func() { callback(r) })
		}
	}
	return h.send(op, document, deliver, timeout)
}

// send subscribes to op's answers if needed, registers the request and
// publishes it. With timeout > 0 the request times out by itself (the
// asynchronous forms); otherwise its caller settles it.
func (h *Handler) send(op shadowtopic.Op, document []byte, deliver func(Response), timeout time.Duration) (string, error) {
	payload, token, err := requestDocument(op, document)
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, exists := h.pending[token]; exists {
		return "", fmt.Errorf("%w: clientToken %q is already in use by a request waiting for its answer", ErrInvalidDocument, token)
	}
	st := h.ops[op]
	if !st.subscribed {
		if err := h.subscribeLocked(op); err != nil {
			return "", err
		}
	}
	p := &pending{op: op, deliver: deliver}
	h.pending[token] = p
	st.waiting++
	// The SUBSCRIBEs above and this PUBLISH leave in this order on one
	// connection (or wait in the queue in it), so the broker has the
	// subscriptions before it answers.
	if _, err := h.c.PublishAsync(h.sh.Request(op), payload, client.QoS1, func(err error) {
		if err != nil {
			h.fail(token, err)
		}
	}); err != nil {
		delete(h.pending, token)
		st.waiting--
		h.unsubscribeIfIdleLocked(op)
		return "", fmt.Errorf("shadow: %s %s: %w", op, h.sh, err)
	}
	if timeout > 0 {
		p.timer = time.AfterFunc(timeout, func() { h.expire(token) })
	}
	return token, nil
}

// requestDocument returns the payload to publish for a request and its
// clientToken.
func requestDocument(op shadowtopic.Op, document []byte) ([]byte, string, error) {
	if op != shadowtopic.Update {
		token := rand.Text()
		return fmt.Appendf(nil, `{"clientToken":%q}`, token), token, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(document, &fields); err != nil || fields == nil {
		return nil, "", fmt.Errorf("%w: an update document must be a JSON object: %s", ErrInvalidDocument, truncated(document))
	}
	if raw, ok := fields["clientToken"]; ok {
		var token string
		if err := json.Unmarshal(raw, &token); err != nil || len(token) > maxClientTokenBytes {
			return nil, "", fmt.Errorf("%w: clientToken %s must be a string of at most %d bytes", ErrInvalidDocument, raw, maxClientTokenBytes)
		}
		return document, token, nil
	}
	token := rand.Text()
	fields["clientToken"] = json.RawMessage(fmt.Appendf(nil, "%q", token))
	payload, err := json.Marshal(fields)
	return payload, token, err
}

func truncated(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q…", b[:40])
	}
	return fmt.Sprintf("%q", b)
}

// subscribeLocked subscribes to op's accepted and rejected topics.
func (h *Handler) subscribeLocked(op shadowtopic.Op) error {
	for _, suffix := range []string{shadowtopic.Accepted, shadowtopic.Rejected} {
		topic := h.sh.Response(op, suffix)
		if _, err := h.c.SubscribeAsync(topic, client.QoS1, func(err error) {
			if err != nil {
				h.subscriptionFailed(op, err)
			}
		}, h.onAnswer(op, suffix)); err != nil {
			return fmt.Errorf("shadow: subscribe to %s: %w", topic, err)
		}
	}
	h.ops[op].subscribed = true
	return nil
}

// unsubscribeIfIdleLocked drops op's subscriptions once no request of it
// waits, unless they are persistent.
func (h *Handler) unsubscribeIfIdleLocked(op shadowtopic.Op) {
	st := h.ops[op]
	if h.persist || st.waiting > 0 || !st.subscribed {
		return
	}
	st.subscribed = false
	for _, suffix := range []string{shadowtopic.Accepted, shadowtopic.Rejected} {
		// Refused only if the client is stopping; the subscription goes with it.
		_, _ = h.c.UnsubscribeAsync(h.sh.Response(op, suffix), nil)
	}
}

// subscriptionFailed fails op's waiting requests: a refused subscription
// means no answer can come.
func (h *Handler) subscriptionFailed(op shadowtopic.Op, err error) {
	h.mu.Lock()
	h.ops[op].subscribed = false
	var failed []*pending
	for token, p := range h.pending {
		if p.op == op {
			failed = append(failed, h.settleLocked(token))
		}
	}
	h.mu.Unlock()
	for _, p := range failed {
		p.deliver(Response{Status: Failed, Err: fmt.Errorf("shadow: %s %s: %w", op, h.sh, err)})
	}
}

// onAnswer returns the message callback of one of op's response topics.
func (h *Handler) onAnswer(op shadowtopic.Op, suffix string) client.MessageHandler {
	return func(m client.Message) {
		a, ok := readAnswer(m.Payload)
		h.mu.Lock()
		p := h.pending[a.ClientToken]
		if !ok || p == nil || p.op != op {
			h.mu.Unlock()
			h.log.Debug("shadow: ignored an answer for another request", "topic", m.Topic, "clientToken", a.ClientToken)
			return
		}
		h.settleLocked(a.ClientToken)
		r := Response{Status: Accepted, Payload: m.Payload, Token: a.ClientToken, Version: a.Version}
		switch {
		case suffix == shadowtopic.Rejected:
			r.Status, r.Err = Rejected, &RejectedError{Code: a.Code, Message: a.Message}
		case op == shadowtopic.Delete:
			h.version = 0
		default:
			h.version = max(h.version, a.Version)
		}
		h.mu.Unlock()
		p.deliver(r)
	}
}

// onDelta is the delta topic's message callback.
func (h *Handler) onDelta(m client.Message) {
	a, ok := readAnswer(m.Payload)
	h.mu.Lock()
	if !ok || a.Version <= h.version {
		seen := h.version
		h.mu.Unlock()
		h.log.Debug("shadow: discarded a stale delta", "version", a.Version, "seen", seen)
		return
	}
	h.version = a.Version
	callback := h.delta
	h.mu.Unlock()
	if callback != nil {
		r := Response{Status: Delta, Payload: m.Payload, Token: a.ClientToken, Version: a.Version}
		h.runCallback(func() { callback(r) })
	}
}

// expire ends an asynchronous request whose timeout passed unanswered.
func (h *Handler) expire(token string) {
	if p := h.settle(token); p != nil {
		p.deliver(Response{Status: Timeout, Token: token, Err: client.ErrTimeout})
	}
}

// fail ends a request the client could not send.
func (h *Handler) fail(token string, err error) {
	if p := h.settle(token); p != nil {
		p.deliver(Response{Status: Failed, Token: token, Err: fmt.Errorf("shadow: %s %s: %w", p.op, h.sh, err)})
	}
}

// settle removes a waiting request, or returns nil if it is no longer
// waiting (answered, timed out or failed already).
func (h *Handler) settle(token string) *pending {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.settleLocked(token)
}

func (h *Handler) settleLocked(token string) *pending {
	p := h.pending[token]
	if p == nil {
		return nil
	}
	delete(h.pending, token)
	if p.timer != nil {
		p.timer.Stop()
	}
	h.ops[p.op].waiting--
	h.unsubscribeIfIdleLocked(p.op)
	return p
}

// runCallback runs fn after every callback queued before it, on a
// goroutine of its own, recovering a panic.
func (h *Handler) runCallback(fn func()) {
	h.mu.Lock()
	prev := h.lastCallback
	done := make(chan struct{})
	h.lastCallback = done
	h.mu.Unlock()
	go func() {
		defer close(done)
		if prev != nil {
			<-prev
		}
		defer func() {
			if p := recover(); p != nil {
				h.log.Error("shadow: callback panicked; recovered", "panic", fmt.Sprint(p))
			}
		}()
		fn()
	}()
}
