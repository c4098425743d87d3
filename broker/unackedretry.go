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
// clock): it resends, with DUP and the same packet id, a delivery a
// connected client has left unacknowledged for UnackedResend since it was
// last sent, and drops, as a DROPPED event, the deliveries older than the
// expiry; the client's late PUBACK for one is then ignored, and a resumed
// session does not resend it.
type unackedRetry struct {
	srv    *mqtt.Server
	drops  *drops
	expiry time.Duration // 0: never dropped
	resend time.Duration // 0: not resent while connected
	every  time.Duration
	reason string // of the DROPPED events

	mu      sync.Mutex // guards timer, stopped
	timer   *time.Timer
	stopped bool
	// sent is when each delivery still in flight was last resent.
	sent map[deliveryKey]time.Time
}

// deliveryKey names a delivery in flight.
type deliveryKey struct {
	cl *mqtt.Client
	id uint16
}

func startUnackedRetry(srv *mqtt.Server, d *drops, expiry, resend, every time.Duration) *unackedRetry {
	u := &unackedRetry{srv: srv, drops: d, expiry: expiry, resend: resend, every: every, sent: make(map[deliveryKey]time.Time),
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
		for _, pk := range cl.State.Inflight.GetAll(false) {
			if pk.FixedHeader.Type != packets.Publish {
				continue
			}
			created := time.Unix(pk.Created, 0)
			if u.expiry > 0 && now.Sub(created) >= u.expiry {
				if cl.State.Inflight.Delete(pk.PacketID) {
					cl.State.Inflight.IncreaseSendQuota()
					u.drops.record(cl.ID, pk, u.reason)
				}
				continue
			}
			if u.resend > 0 && pk.Expiry != -1 && !cl.Closed() { // -1: held for quota, not sent yet
				key := deliveryKey{cl, pk.PacketID}
				last, ok := u.sent[key]
				if !ok {
					last = created
				}
				if now.Sub(last) >= u.resend {
					pk.FixedHeader.Dup = true // [MQTT-3.3.1-1]
					_ = cl.WritePacket(pk)    // a failed write ends the link; the session keeps pk
					last = now
				}
				sent[key] = last
			}
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.sent = sent
	if !u.stopped {
		u.timer.Reset(u.every)
	}
}

func (u *unackedRetry) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopped = true
	u.timer.Stop()
}
