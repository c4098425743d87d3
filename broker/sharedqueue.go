package broker

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// AWS IoT Core delivers a message on a shared subscription,
// $share/<group>/<filter>, to one online member of the group. While no
// member is online, and some member has a persistent session, it queues
// the QoS 1 messages and delivers them when members come online, at 20
// messages a second per member (Profile.SharedQueueRate; mqtt.md "Shared
// subscriptions message queuing"). mochi picks any member, online or not:
// an offline member's session stored what an online member should have
// had. The profile picks an online member, and keeps each group's queue.

// sharedGroups is the profile's routing of shared subscriptions.
type sharedGroups struct {
	srv   *mqtt.Server
	drops *drops
	// interval is the time between two queued messages to one member.
	interval time.Duration
	// deliverable says whether the profile lets cl have a message on
	// topic now (the per-delivery rules of profileHook.allows).
	deliverable func(cl *mqtt.Client, topic string) bool
	// unackedLimit is how many deliveries a member may leave
	// unacknowledged (Profile.MaxUnackedOutbound; less for an MQTT 5
	// client with a lower Receive Maximum); 0 is no limit.
	unackedLimit int

	mu      sync.Mutex // guards queues, stopped
	queues  map[string]*groupQueue
	stopped bool
}

// groupQueue is one group's messages waiting for an online member.
type groupQueue struct {
	filter   string // $share/<group>/<filter>, as mochi keys the group
	pending  []packets.Packet
	draining bool        // a delivery is scheduled or under way
	timer    *time.Timer // the next delivery
	turn     int         // which online member is next
}

// route replaces mochi's choice of members for pk (OnSelectSubscribers):
// an online member of each group gets it; a group with none queues it.
func (g *sharedGroups) route(subs *mqtt.Subscribers, pk packets.Packet) *mqtt.Subscribers {
	for filter, members := range subs.Shared {
		online := g.online(members)
		if len(online) == 0 {
			g.enqueue(filter, members, pk)
			continue
		}
		id := online[rand.IntN(len(online))]
		sub := members[id]
		if prev, ok := subs.SharedSelected[id]; ok {
			sub = prev.Merge(sub)
		}
		subs.SharedSelected[id] = sub
	}
	subs.Shared = nil // nothing left for mochi to choose from
	return subs
}

// online returns the ids of the members whose client is connected, in
// order.
func (g *sharedGroups) online(members map[string]packets.Subscription) []string {
	var ids []string
	for id := range members {
		if cl, ok := g.srv.Clients.Get(id); ok && !cl.Closed() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// enqueue keeps pk for the group until a member is online, if it is a
// QoS 1 message some member subscribed to at QoS 1; otherwise it is lost.
func (g *sharedGroups) enqueue(filter string, members map[string]packets.Subscription, pk packets.Packet) {
	if !matchesAWS(stripShare(filter), pk.TopicName) {
		return // mochi's "a/#" matched "a"; AWS IoT Core's does not
	}
	var qos byte
	for _, sub := range members {
		qos = max(qos, sub.Qos)
	}
	if min(qos, pk.FixedHeader.Qos) == 0 {
		g.drops.lose(filter, pk, "no member of the shared subscription is online, and AWS IoT Core queues only QoS 1 messages for it")
		return
	}
	limit := int(g.srv.Options.Capabilities.MaximumInflight)
	g.mu.Lock()
	q := g.queues[filter]
	if q == nil {
		q = &groupQueue{filter: filter}
		g.queues[filter] = q
	}
	full := limit > 0 && len(q.pending) >= limit
	if !full {
		q.pending = append(q.pending, pk)
		// A member may have come online, and woken the queues, since
		// route looked: look again, under the lock wake takes.
		if len(g.online(g.srv.Topics.Subscribers(pk.TopicName).Shared[filter])) > 0 {
			g.startLocked(q)
		}
	}
	g.mu.Unlock()
	if full {
		g.drops.lose(filter, pk, "the shared subscription's queue holds "+strconv.Itoa(limit)+" messages (Capabilities.MaximumInflight)")
	}
}

// wake starts draining every queue that is not draining: a member may
// have come online, or a group may have lost its last member.
func (g *sharedGroups) wake() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, q := range g.queues {
		g.startLocked(q)
	}
}

// startLocked schedules q's next delivery one interval from now, unless
// it is draining already. g.mu is held.
func (g *sharedGroups) startLocked(q *groupQueue) {
	if g.stopped || q.draining {
		return
	}
	q.draining = true
	q.timer = time.AfterFunc(g.interval, func() { g.drain(q) })
}

// drain delivers q's oldest message to the next online member that can
// take it, and schedules the next delivery interval/members later. With
// no member online it stops until wake; with no member left at all (their
// sessions ended) the queue is lost.
func (g *sharedGroups) drain(q *groupQueue) {
	g.mu.Lock()
	var expired []packets.Packet
	for len(q.pending) > 0 && q.pending[0].Expiry > 0 && q.pending[0].Expiry < time.Now().Unix() {
		expired, q.pending = append(expired, q.pending[0]), q.pending[1:]
	}
	defer g.recordLost(q.filter, expired, "its MQTT 5 message expiry passed while queued") // after the unlock
	if g.stopped || len(q.pending) == 0 {
		q.draining = false
		delete(g.queues, q.filter)
		g.mu.Unlock()
		return
	}
	pk := q.pending[0]
	members := g.srv.Topics.Subscribers(pk.TopicName).Shared[q.filter]
	online := g.online(members)
	if len(members) == 0 {
		lost := q.pending
		delete(g.queues, q.filter)
		g.mu.Unlock()
		g.recordLost(q.filter, lost, "no member of the shared subscription is left: their sessions ended")
		return
	}
	if len(online) == 0 {
		q.draining = false
		g.mu.Unlock()
		return
	}
	turn := q.turn
	g.mu.Unlock()

	taken := false
	for i := range online {
		id := online[(turn+i)%len(online)]
		if taken = g.deliver(id, members[id], pk); taken {
			turn += i + 1
			break
		}
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if taken {
		q.pending = q.pending[1:]
		q.turn = turn
	}
	if g.stopped {
		return
	}
	q.timer = time.AfterFunc(g.interval/time.Duration(len(online)), func() { g.drain(q) })
}

// recordLost records the group's queued messages as lost. (Not
// drops.lose: the Broker.Publish of each is over, and one under way on the
// same topic is another message.)
func (g *sharedGroups) recordLost(filter string, lost []packets.Packet, reason string) {
	for _, pk := range lost {
		g.drops.record(filter, pk, reason)
	}
}

// deliver sends pk to member id, and says whether pk is done with: false
// if the member cannot take it now (offline, or at its limit of
// unacknowledged deliveries); true once sent, or refused by the profile's
// rules for every delivery (which record a drop where there is one).
func (g *sharedGroups) deliver(id string, sub packets.Subscription, pk packets.Packet) bool {
	cl, ok := g.srv.Clients.Get(id)
	if !ok || cl.Closed() {
		return false
	}
	if n := unackedLimit(cl, g.unackedLimit); n > 0 && cl.State.Inflight.Len() >= n {
		return false
	}
	if !g.deliverable(cl, pk.TopicName) {
		return true
	}
	out := pk.Copy(false)
	out.Created = time.Now().Unix()
	out.FixedHeader.Retain = false
	out.FixedHeader.Qos = min(pk.FixedHeader.Qos, sub.Qos)
	if out.FixedHeader.Qos > 0 {
		id, err := cl.NextPacketID()
		if err != nil {
			return false
		}
		out.PacketID = uint16(id)
	}
	writeDelivery(cl, out, g.drops)
	return true
}

// stop ends the draining (the server is closing).
func (g *sharedGroups) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopped = true
	for _, q := range g.queues {
		if q.timer != nil {
			q.timer.Stop()
		}
	}
}
