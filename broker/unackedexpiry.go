package broker

import (
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// AWS IoT Core retries an unacknowledged QoS 1 delivery "for up to one
// hour" and then drops it (Profile.UnackedExpiry). mochi keeps one in the
// session until it is acknowledged. unackedExpiry looks at every session
// each second (on the profile's clock) and drops, as a DROPPED event, the
// deliveries older than the expiry; the client's late PUBACK for one is
// then ignored, and a resumed session does not resend it.
type unackedExpiry struct {
	srv    *mqtt.Server
	drops  *drops
	expiry time.Duration
	every  time.Duration
	reason string // of the DROPPED events

	mu      sync.Mutex // guards timer, stopped
	timer   *time.Timer
	stopped bool
}

func startUnackedExpiry(srv *mqtt.Server, d *drops, expiry, every time.Duration) *unackedExpiry {
	u := &unackedExpiry{srv: srv, drops: d, expiry: expiry, every: every,
		reason: "unacknowledged for " + expiry.String() + " (AWS IoT Core retries a QoS 1 delivery for up to one hour, then drops it)"}
	u.mu.Lock()
	u.timer = time.AfterFunc(every, u.sweep)
	u.mu.Unlock()
	return u
}

func (u *unackedExpiry) sweep() {
	now := time.Now()
	for _, cl := range u.srv.Clients.GetAll() {
		for _, pk := range cl.State.Inflight.GetAll(false) {
			if pk.FixedHeader.Type != packets.Publish || now.Sub(time.Unix(pk.Created, 0)) < u.expiry {
				continue
			}
			if cl.State.Inflight.Delete(pk.PacketID) {
				cl.State.Inflight.IncreaseSendQuota()
				u.drops.record(cl.ID, pk, u.reason)
			}
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.stopped {
		u.timer.Reset(u.every)
	}
}

func (u *unackedExpiry) stop() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.stopped = true
	u.timer.Stop()
}
