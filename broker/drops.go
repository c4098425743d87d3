package broker

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mochi's log messages for a message it did not deliver (v2.7.9).
const (
	// logFailedPublish: from the fan-out (server.go:1018), with the
	// published packet, when a subscriber's copy could not be queued; and
	// from a client's write loop (clients.go:200), with a pointer to the
	// queued delivery, when writing it failed.
	logFailedPublish = "failed publishing packet"
	// logFailedRetained: a retained message not queued at SUBSCRIBE
	// (server.go:1129).
	logFailedRetained = "failed to publish retained message"
)

// reasonTooLarge is why a delivery larger than its client takes is lost.
const reasonTooLarge = "larger than the client's maximum packet size"

// dropLog is the log handler the broker gives mochi. mochi reports a
// subscriber's copy it drops only in its log, at debug level, and hooks
// see none of it: OnPublishDropped covers only a full write queue, nothing
// covers the in-flight limit. dropLog records each lost copy as a DROPPED
// event, tells the Broker.Publish in progress about its own, and passes
// every record on to the broker's logger.
type dropLog struct {
	next slog.Handler
	d    *drops
}

// drops turns mochi's failed deliveries into DROPPED events.
type drops struct {
	rec         *Recorder
	skipPayload bool
	pub         *publisher
	// srv is the server whose log this is; set before it serves.
	srv *mqtt.Server
}

// Enabled is true at every level: the records that matter are debug ones.
func (h *dropLog) Enabled(context.Context, slog.Level) bool { return true }

// Handle records a drop, then passes the record on if the broker's logger
// wants its level.
func (h *dropLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == logFailedPublish || r.Message == logFailedRetained {
		h.d.fromLog(r)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs keeps recording drops under the added attributes.
func (h *dropLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &dropLog{next: h.next.WithAttrs(as), d: h.d}
}

// WithGroup keeps recording drops under the group.
func (h *dropLog) WithGroup(name string) slog.Handler {
	return &dropLog{next: h.next.WithGroup(name), d: h.d}
}

func (d *drops) fromLog(r slog.Record) {
	var (
		err    error
		client string
		pk     packets.Packet
		queued bool // the packet is a queued delivery, not the published message
		ok     bool
	)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "error":
			err, _ = a.Value.Any().(error)
		case "client":
			client = a.Value.String()
		case "packet":
			switch p := a.Value.Any().(type) {
			case packets.Packet:
				pk, ok = p, true
			case *packets.Packet:
				if p != nil {
					pk, queued, ok = *p, true, true
				}
			}
		}
		return true
	})
	if !ok || err == nil {
		return
	}
	reason := d.reason(err, client, pk, queued)
	if reason == "" {
		return
	}
	if r.Message == logFailedPublish && !queued {
		d.lose(client, pk, reason)
		return
	}
	d.record(client, pk, reason)
}

// lose records that client's copy of the published message pk is lost, and
// tells the Broker.Publish in progress if pk is its message.
func (d *drops) lose(client string, pk packets.Packet, reason string) {
	d.record(client, pk, reason)
	if pk.Origin == mqtt.InlineClientId {
		d.pub.dropped(pk.TopicName, client+": "+reason)
	}
}

func (d *drops) record(client string, pk packets.Packet, reason string) {
	e := Event{Kind: KindDropped, ClientID: client, Topic: pk.TopicName, QoS: pk.FixedHeader.Qos, Cause: reason}
	if !d.skipPayload {
		e.Payload = bytes.Clone(pk.Payload)
	}
	d.rec.add(e)
}

// reason says why a copy of pk for client is lost, or "" if mochi keeps it
// (a QoS 1 copy stays in flight and is resent when the session resumes).
func (d *drops) reason(err error, client string, pk packets.Packet, queued bool) string {
	switch {
	case errors.Is(err, packets.ErrPendingClientWritesExceeded):
		return "write queue full (Capabilities.MaximumClientWritesPending)"
	case errors.Is(err, packets.ErrQuotaExceeded):
		return "in-flight limit reached (Capabilities.MaximumInflight), or no packet ID free"
	case errors.Is(err, packets.ErrNotAuthorized):
		// Only the AWS profile refuses deliveries; it records those
		// that are drops itself (a publish rate, a policy), and the
		// rest are messages AWS would not have matched at all.
		return ""
	case errors.Is(err, packets.ErrPacketTooLarge):
		return reasonTooLarge
	case queued:
		if pk.FixedHeader.Qos > 0 {
			return ""
		}
		return "write failed: " + err.Error()
	case errors.Is(err, packets.CodeDisconnect):
		if min(subscribedQoS(d.srv.Topics.Subscribers(pk.TopicName), client), pk.FixedHeader.Qos) > 0 {
			return ""
		}
		return "subscriber offline: a session keeps no QoS 0 message"
	}
	return err.Error()
}

// subscribedQoS is the highest QoS of client's subscriptions among subs,
// shared ones included.
func subscribedQoS(subs *mqtt.Subscribers, client string) byte {
	var qos byte
	if sub, ok := subs.Subscriptions[client]; ok {
		qos = sub.Qos
	}
	for _, members := range subs.Shared {
		if sub, ok := members[client]; ok {
			qos = max(qos, sub.Qos)
		}
	}
	return qos
}

// ignoredPublish says why mochi ignores a client's PUBLISH to topic (no
// PUBACK, no delivery: server.go:859-861), or "" if it does not.
func ignoredPublish(topic string) string {
	switch {
	case mqtt.IsValidFilter(topic, true):
		return ""
	case len(topic) >= len(mqtt.SysPrefix) && strings.EqualFold(topic[:len(mqtt.SysPrefix)], mqtt.SysPrefix):
		return "mochi ignores client publishes to $SYS topics: no PUBACK, no delivery"
	}
	return "mochi ignores client publishes to a topic name it does not accept: no PUBACK, no delivery"
}
