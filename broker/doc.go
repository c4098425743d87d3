// Package broker is an in-process MQTT broker for tests (mochi-mqtt behind a
// fault proxy) with an event recorder, shaped like httptest: NewTLS(t) for a
// test, Start for everything else.
//
// The recorder (Broker.Events) is the broker's account of what happened, in
// causal order: a packet the broker sends is recorded before its bytes
// leave, a packet it reads before it acts on it, and a fault before it is
// applied. So once a client has seen a CONNACK, PUBACK, SUBACK or delivery,
// its event is already recorded, and a wait with Match.After set to a
// Recorder.Seq taken earlier sees only what followed. Messages mochi does
// not deliver (a full write queue, the in-flight limit, a QoS 0 message for
// an offline session, a client's publish to $SYS) are recorded as DROPPED
// with the reason. The recorder keeps the latest DefaultEventLimit events
// (see WithEventLimit); a wait whose events were discarded before it saw
// them fails with ErrEventsDiscarded rather than missing them.
package broker
