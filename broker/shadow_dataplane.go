package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/iotmqtt/iotmqtt/internal/shadowtopic"
)

// ErrShadowOff is returned by the data-plane methods (Shadow, UpdateShadow,
// DeleteShadow) of a broker started WithoutShadow.
var ErrShadowOff = errors.New("broker: the Device Shadow service is off (WithoutShadow)")

// ShadowError is a shadow request the service rejected, with AWS's HTTP
// status code and message (400 invalid request, 404 no such shadow, 409
// version conflict, 413 document too large, 415 not UTF-8).
type ShadowError struct {
	Op      string // "get", "update" or "delete"
	Shadow  string // the thing, or thing~shadow for a named shadow
	Code    int
	Message string
}

func (e *ShadowError) Error() string {
	return fmt.Sprintf("broker: %s shadow %s: %d %s", e.Op, e.Shadow, e.Code, e.Message)
}

// Shadow returns a shadow's document as get/accepted carries it (state
// with desired, reported and delta; metadata; version; timestamp), the way
// an application reads it through AWS's data plane (GetThingShadow). name
// is "" for the thing's classic shadow. A missing shadow is a
// *ShadowError with Code 404.
func (b *Broker) Shadow(thing, name string) ([]byte, error) {
	return b.shadowDataPlane(context.Background(), shadowtopic.Get, thing, name, nil)
}

// UpdateShadow updates a shadow with a request state document
// ({"state":{"desired":{…}}}, optionally with "version" and "clientToken"),
// the way an application does through AWS's data plane
// (UpdateThingShadow): the same rules as an update over MQTT, and the same
// notifications to MQTT subscribers (update/accepted, update/delta,
// update/documents), but a rejection is only returned, as a *ShadowError,
// never published. It returns the accepted document once the notifications
// have been handed to every subscriber (after ShadowOptions.ResponseDelay,
// if set); if ctx ends first, the update stands and the error wraps
// ErrPublishBlocked and ctx's error.
func (b *Broker) UpdateShadow(ctx context.Context, thing, name string, doc []byte) ([]byte, error) {
	return b.shadowDataPlane(ctx, shadowtopic.Update, thing, name, doc)
}

// DeleteShadow deletes a shadow as an application does through AWS's data
// plane (DeleteThingShadow) and publishes delete/accepted to MQTT
// subscribers; it returns like UpdateShadow. The version numbering goes
// on: the next update makes the deleted version + 1.
func (b *Broker) DeleteShadow(ctx context.Context, thing, name string) ([]byte, error) {
	return b.shadowDataPlane(ctx, shadowtopic.Delete, thing, name, nil)
}

func (b *Broker) shadowDataPlane(ctx context.Context, op shadowtopic.Op, thing, name string, doc []byte) ([]byte, error) {
	if b.shadow == nil {
		return nil, ErrShadowOff
	}
	sh := shadowtopic.Shadow{Thing: thing, Name: name}
	res, answer := b.shadow.dataPlane(sh, op, doc)
	if res.Err != nil {
		return nil, &ShadowError{Op: string(op), Shadow: sh.String(), Code: res.Err.Code, Message: res.Err.Message}
	}
	if answer == nil {
		return res.Payload, nil
	}
	select {
	case <-answer.published:
		return res.Payload, nil
	case <-b.shadow.done:
		return res.Payload, fmt.Errorf("broker: %s shadow %s: accepted (version %d), not published: the broker closed", op, sh, res.Version)
	case <-ctx.Done():
		return res.Payload, fmt.Errorf("%w: %s shadow %s accepted (version %d), its notifications not yet published: %w", ErrPublishBlocked, op, sh, res.Version, ctx.Err())
	}
}
