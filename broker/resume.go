package broker

import (
	"errors"
	"sort"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// AWS IoT Core sends a resumed persistent session's stored messages "at a
// maximum rate of 10 messages per second" alongside live traffic
// (Profile.ResumeRate). mochi resends them all at once, right after the
// CONNACK (mochi v2.7.9 server.go:463-468). The profile takes them out of
// the session as the CONNACK is written, and sends them back into it at
// the rate; what the link loses before its turn goes back to the session.

// resumeQueue is what the profile still has to send of a resumed session.
type resumeQueue struct {
	drops   *drops
	mu      sync.Mutex // guards pending, timer, stopped
	pending []packets.Packet
	timer   *time.Timer
	stopped bool
}

// takeStored moves cl's stored deliveries out of its session, oldest
// first (mochi's GetAll orders by the low 16 bits of the time only).
func takeStored(cl *mqtt.Client) []packets.Packet {
	var stored []packets.Packet
	for _, pk := range cl.State.Inflight.GetAll(false) {
		if pk.FixedHeader.Type == packets.Publish {
			stored = append(stored, pk)
		}
	}
	sort.SliceStable(stored, func(i, j int) bool { return stored[i].Created < stored[j].Created })
	for _, pk := range stored {
		cl.State.Inflight.Delete(pk.PacketID)
	}
	return stored
}

// start sends one stored delivery now and the next every interval; asNew
// gives each a new packet id and no DUP flag (Profile.RedeliverAsNew).
func (q *resumeQueue) start(cl *mqtt.Client, interval time.Duration, asNew bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.timer = time.AfterFunc(0, func() { q.sendNext(cl, interval, asNew) })
}

func (q *resumeQueue) sendNext(cl *mqtt.Client, interval time.Duration, asNew bool) {
	q.mu.Lock()
	if q.stopped || len(q.pending) == 0 {
		q.mu.Unlock()
		return
	}
	pk := q.pending[0]
	q.pending = q.pending[1:]
	if len(q.pending) > 0 {
		q.timer.Reset(interval)
	}
	q.mu.Unlock()
	pk.FixedHeader.Dup = true // [MQTT-3.3.1-1], as mochi resends
	if asNew {
		if id, err := cl.NextPacketID(); err == nil {
			pk.PacketID, pk.FixedHeader.Dup = uint16(id), false
		}
	}
	writeDelivery(cl, pk, q.drops)
}

// writeDelivery writes a delivery the profile sends itself. A QoS 1 one is
// in flight in cl's session first, so a write the link fails leaves it
// there to be resent; one larger than the client takes is lost, and
// recorded as DROPPED.
func writeDelivery(cl *mqtt.Client, pk packets.Packet, d *drops) {
	if pk.FixedHeader.Qos > 0 {
		if pk.Expiry < 0 {
			pk.Expiry = 0 // in flight, no longer held for quota
		}
		cl.State.Inflight.Set(pk)
		cl.State.Inflight.DecreaseSendQuota()
	}
	if err := cl.WritePacket(pk); errors.Is(err, packets.ErrPacketTooLarge) {
		if pk.FixedHeader.Qos > 0 && cl.State.Inflight.Delete(pk.PacketID) {
			cl.State.Inflight.IncreaseSendQuota()
		}
		d.record(cl.ID, pk, reasonTooLarge)
	}
}

// stop ends the pacing and puts what was not sent back in cl's session.
func (q *resumeQueue) stop(cl *mqtt.Client) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	if q.timer != nil {
		q.timer.Stop()
	}
	for _, pk := range q.pending {
		cl.State.Inflight.Set(pk)
	}
	q.pending = nil
}
