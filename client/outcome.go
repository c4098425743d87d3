package client

import "fmt"

// Outcome says what became of a request.
type Outcome int

const (
	// NotAccepted, the zero Outcome, comes with an error: the request was
	// refused before anything was queued or sent (invalid, offline queue
	// full or disabled, not connected, or its context had already ended).
	NotAccepted Outcome = iota
	// Sent: a synchronous call's request was acknowledged (QoS 1 PUBACK,
	// SUBACK, UNSUBACK) or, for QoS 0, written to the connection.
	Sent
	// Queued: the client is offline (or still recovering), so the request
	// waits in the offline queue and goes out, in order, after
	// reconnecting. A synchronous call also returns Queued when the
	// connection dropped under its request, which went back to the queue.
	Queued
	// QueuedDroppedOldest: as Queued, but the queue was full, so its oldest
	// request was dropped to make room (DropOldest). The dropped request's
	// ack callback receives ErrDropped.
	QueuedDroppedOldest
	// InFlight: an asynchronous call's request was given to the live
	// connection; its ack callback reports the acknowledgement. If the
	// connection drops first, the request goes back to the queue and the
	// callback still fires, once.
	InFlight
	// Pending comes with ErrTimeout or the context's error: a synchronous
	// call stopped waiting before the acknowledgement. The request stays in
	// flight or queued and will still be sent.
	Pending
	// Rejected comes with the broker's refusal: a SUBACK refusing the
	// filter (*SubscribeError), or ErrRejectedByBroker. Nothing of the
	// request remains.
	Rejected
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case NotAccepted:
		return "not accepted"
	case Sent:
		return "sent"
	case Queued:
		return "queued"
	case QueuedDroppedOldest:
		return "queued (dropped oldest)"
	case InFlight:
		return "in flight"
	case Pending:
		return "pending"
	case Rejected:
		return "rejected"
	default:
		return fmt.Sprintf("Outcome(%d)", int(o))
	}
}
