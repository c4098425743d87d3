package broker

import (
	"time"

	"github.com/iotmqtt/iotmqtt/internal/shadowdoc"
)

// ShadowOptions configures the Device Shadow service. A field left at zero
// takes AWS IoT Core's value (aws-iot-core-behaviour.md §5.5).
type ShadowOptions struct {
	// MaxDocumentBytes bounds a shadow's stored state — desired and
	// reported as compact JSON, without metadata — after an update; a
	// larger result is rejected with 413 (default 8192, AWS's 8 KB).
	MaxDocumentBytes int
	// MaxDepth bounds the levels of objects and arrays in a desired or
	// reported section, the section itself being level 1; a deeper update
	// is rejected with 400. AWS's documents disagree (5, 6, 8); the default
	// is 6, from its current error message.
	MaxDepth int
	// MaxInFlight is how many requests a connection may have in flight —
	// received, not yet answered — before the next is rejected with 429
	// (default 10, AWS's limit). Requests are in flight only while
	// ResponseDelay holds their answers back.
	MaxInFlight int
	// ResponseDelay holds every answer (accepted, rejected, delta,
	// documents) back this long after its request, as the latency of AWS's
	// service would (default 0: answered at once).
	ResponseDelay time.Duration
	// DeltaOnReportedUpdates also publishes update/delta after an update
	// that sent only reported state and leaves desired and reported
	// different. AWS's documents are ambiguous; by default, as its MQTT
	// topic page reads, only an update that sent desired state publishes a
	// delta.
	DeltaOnReportedUpdates bool
}

// DefaultShadowMaxInFlight is AWS's limit of in-flight shadow requests per
// connection.
const DefaultShadowMaxInFlight = 10

// WithShadow configures the Device Shadow service, which runs by default
// with ShadowOptions{}.
func WithShadow(o ShadowOptions) Option {
	return func(c *config) { c.shadow, c.noShadow = o, false }
}

// WithoutShadow turns the Device Shadow service off: shadow topics are
// then ordinary topics, and requests get no answer (as on a plain MQTT
// broker).
func WithoutShadow() Option { return func(c *config) { c.noShadow = true } }

func (o ShadowOptions) limits() shadowdoc.Limits {
	return shadowdoc.Limits{MaxDocumentBytes: o.MaxDocumentBytes, MaxDepth: o.MaxDepth, DeltaOnReportedUpdates: o.DeltaOnReportedUpdates}
}
