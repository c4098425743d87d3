package broker

import (
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// AWS IoT Core retries an unacknowledged QoS 1 delivery "for up to one
// hour" and then drops it (Profile.UnackedExpiry); how often it retries
// to a client that stays connected is not documented
// (Profile.UnackedResend). mochi keeps a delivery in the session until it
// is acknowledged, and resends it only when the session resumes.
// unackedRetry looks at every session each second (on the profile's
// clock). It drops, as a DROPPED event, the deliveries older than the
// expiry (the client's late PUBACK for one is then ignored, and a resumed
// session does not resend it). And it resends, with DUP and the same packet
// id, a delivery an MQTT 3.1.1 client has left unacknowledged for
// UnackedResend since the sweep first saw it or last resent it (MQTT 5
// forbids resending but on reconnect, MQTT-4.4.0-1).
type unackedRetry struct {
	srv    *mqtt.Server
	drops  *drops
	expiry time.Duration // 0: never dropped
	resend time.Duration // 0: not resent while connected
	every  time.Duration
	reason string // of the DROPPED events

	mu      sync.Mutex // guards timer, stopped, resending
	timer   *time.Timer
	stopped bool
	// resending holds the clients a resend is being written to (on its
	// own goroutine: one client's stalled link holds up no other).
	resending map[*mqtt.Client]bool
	// sent is when each delivery in flight was first seen or last resent;
	// only the sweep uses it.
	sent map[deliveryKey]time.Time
}

// deliveryKey names a delivery in flight.
type deliveryKey struct {
	cl *mqtt.Client
	id uint16
}

func startUnackedRetry(srv *mqtt.Server, d *drops, expiry, resend, every time.Duration) *unackedRetry {
	u := &unackedRetry{srv: srv, drops: d, expiry: expiry, resend: resend, every: every,
		resending: make(map[*mqtt.Client]bool), sent: make(map[deliveryKey]time.Time),
		reason: "unacknowledged for " + expiry.String() + " (AWS IoT Core retries a QoS 1 delivery for up to one hour, then drops it)"}
	u.mu.Lock()
	u.timer = time.AfterFunc(every, u.sweep)
	u.mu.Unlock()
	return u
}

func (u *unackedRetry) sweep() {
	now := time.Now()
	sent := make(map[deliveryKey]time.Time)
	for _, cl := range u.srv.Clients.GetAll() {
		var due []uint16
		for _, pk := range cl.State.Inflight.GetAll(false) {
			if pk.FixedHeader.Type != packets.Publish {
				continue
			}
			if u.expiry > 0 && now.Sub(time.Unix(pk.Created, 0)) >= u.expiry {
				if cl.State.Inflight.Delete(pk.PacketID) {
					cl.State.Inflight.IncreaseSendQuota()
					u.drops.record(cl.ID, pk, u.reason)
				}
				continue
			}
			if u.resend == 0 || pk.Expiry == -1 || cl.Closed() || cl.Properties.ProtocolVersion == 5 { // -1: held for quota, not sent yet
				continue
			}
			key := deliveryKey{cl, pk.PacketID}
			last, seen := u.sent[key]
			switch {
			case !seen:
				last = now
			case now.Sub(last) >= u.resend:
				due, last = append(due, pk.PacketID), now
			}
			sent[key] = last
		}
		if len(due) > 0 {
			u.resendTo(cl, due)
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sent = sent
	if !u.stopped {
		u.timer.Reset(u.every)
	}
}

// resendTo writes cl's due deliveries again, those still unacknowledged,
// on a goroutine of their own, unless one is writing to cl already.
func (u *unackedRetry) resendTo(cl *mqtt.Client, ids []uint16) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.stopped || u.resending[cl] {
		return
	}
	u.resending[cl] = true
	go func() {
		for _, id := range ids {
			if pk, ok := cl.State.Inflight.Get(id); ok && !cl.Closed() {
				pk.FixedHeader.Dup = true // [MQTT-3.3.1-1]
				_ = cl.WritePacket(pk)    // a failed write ends the link; the session keeps pk
			}
		}
		u.mu.Lock()
		delete(u.resending, cl)
		u.mu.Unlock()
	}()
}

func (u *unackedRetry) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopped = true
	u.timer.Stop()
}
