package broker

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/time/rate"

	"github.com/iotmqtt/iotmqtt/internal/awsiot"
)

// profileHook makes mochi answer as AWS IoT Core does (Profile). It is
// added after the recorder, so the recorder sees an offending packet before
// the link closes. Its ACL decisions are not a hook of their own (mochi ORs
// OnACLCheck across hooks, so a deny would be overridden): controlHook asks
// allows.
type profileHook struct {
	mqtt.HookBase
	p         *Profile
	srv       *mqtt.Server
	drops     *drops
	connects  *connectLimiter // shared by the broker's servers, so Restart keeps it
	lifecycle *lifecycle
	sessions  *sessionTimers
	shared    *sharedGroups // nil without Profile.SharedQueueRate
	// refused records a connection the profile refused before its session
	// began (mochi calls no OnDisconnect for it).
	refused func(cl *mqtt.Client, clientID string, v *violation)

	mu      sync.Mutex // guards clients, resuming, crossVersion, unacked
	clients map[*mqtt.Client]*clientState
	unacked *unackedRetry // started with the server; nil without Profile.UnackedExpiry or UnackedResend
	// resuming holds the stored deliveries taken from a resumed session
	// as its CONNACK is written, until OnSessionEstablished paces them.
	resuming map[*mqtt.Client][]packets.Packet
	// crossVersion holds the clients that took over a session of the other
	// MQTT version, whose CONNACK must say no session is present.
	crossVersion map[*mqtt.Client]bool
}

// clientState is what the profile keeps for one connection.
type clientState struct {
	inbound, outbound *rate.Limiter // PublishRate; nil without one
	lifetime          *time.Timer   // WebSocketLifetime / ConnectionLifetime
	resume            *resumeQueue  // a resumed session's stored deliveries; nil if none
	qos0Sent          atomic.Int64  // QoS 0 deliveries, for Profile.DuplicateQoS0Every
	// early is how many bytes the client sent before its CONNACK
	// (Profile.EarlyPackets); set and read on its read goroutine.
	early int

	mu sync.Mutex // guards subscribing, released
	// subscribing holds the filters of the SUBSCRIBE being processed, and
	// whether each may be granted, for mochi's OnACLCheck of each filter
	// (the same call it makes for deliveries).
	subscribing map[string]bool
	// released holds the deliveries mochi released from the quota's hold
	// and took out of the session (see heldrelease.go).
	released []packets.Packet
	// subscribedAt is when each filter of this connection was granted,
	// with Profile.SubscribeDelay.
	subscribedAt map[string]time.Time
}

func newProfileHook(p *Profile, srv *mqtt.Server, d *drops, connects *connectLimiter, lc *lifecycle,
	refused func(*mqtt.Client, string, *violation)) *profileHook {
	h := &profileHook{
		p: p, srv: srv, drops: d, connects: connects, lifecycle: lc, refused: refused,
		clients: make(map[*mqtt.Client]*clientState), resuming: make(map[*mqtt.Client][]packets.Packet),
		crossVersion: make(map[*mqtt.Client]bool),
	}
	if p.SharedQueueRate > 0 {
		h.shared = &sharedGroups{
			srv: srv, drops: d, interval: p.scaled(time.Second / time.Duration(p.SharedQueueRate)),
			deliverable:  func(cl *mqtt.Client, topic string) bool { return h.allows(cl, topic, false) },
			unackedLimit: p.MaxUnackedOutbound, queues: make(map[string]*groupQueue),
		}
	}
	h.sessions = newSessionTimers(srv, h.sharedMembersChanged)
	return h
}

// sharedMembersChanged lets the shared subscriptions' queues see a member
// that came online or a session that ended.
func (h *profileHook) sharedMembersChanged() {
	if h.shared != nil {
		h.shared.wake()
	}
}

// OnClientExpired removes the subscriptions of a session mochi expired on
// its own clock (mochi v2.7.9 deletes the client and leaves them in the
// topic index, server.go:1709-1711), and lets the shared subscriptions'
// queues see the member gone.
func (h *profileHook) OnClientExpired(cl *mqtt.Client) {
	h.srv.UnsubscribeClient(cl)
	h.sharedMembersChanged()
}

// OnSelectSubscribers sends a message on a shared subscription to an
// online member of the group, or queues it (sharedqueue.go).
func (h *profileHook) OnSelectSubscribers(subs *mqtt.Subscribers, pk packets.Packet) *mqtt.Subscribers {
	if h.shared == nil {
		return subs
	}
	return h.shared.route(subs, pk)
}

// OnStarted starts the retries and the expiry of unacknowledged
// deliveries.
func (h *profileHook) OnStarted() {
	if h.p.UnackedExpiry > 0 || h.p.UnackedResend > 0 {
		h.mu.Lock()
		h.unacked = startUnackedRetry(h.srv, h.drops, h.p.scaled(h.p.UnackedExpiry), h.p.scaled(h.p.UnackedResend), h.p.scaled(time.Second))
		h.mu.Unlock()
	}
}

func (h *profileHook) ID() string { return "iotmqtt-aws-profile" }

func (h *profileHook) Provides(b byte) bool {
	if b == mqtt.OnPacketSent {
		return h.p.DuplicateQoS0Every > 0
	}
	return bytes.Contains([]byte{
		mqtt.OnPacketRead, mqtt.OnConnect, mqtt.OnSessionEstablish, mqtt.OnSessionEstablished,
		mqtt.OnSubscribe, mqtt.OnSubscribed, mqtt.OnUnsubscribed, mqtt.OnPublish, mqtt.OnDisconnect,
		mqtt.OnPacketEncode, mqtt.OnStarted, mqtt.OnSelectSubscribers, mqtt.OnClientExpired,
	}, []byte{b})
}

// Stop stops the profile's timers when mochi closes.
func (h *profileHook) Stop() error {
	h.sessions.stop()
	if h.shared != nil {
		h.shared.stop()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.unacked != nil {
		h.unacked.stop()
	}
	for _, st := range h.clients {
		if st.lifetime != nil {
			st.lifetime.Stop()
		}
	}
	return nil
}

func (h *profileHook) state(cl *mqtt.Client) *clientState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.clients[cl]
}

// closeLink ends the connection for a violation: mochi stops reading and
// closes it, with v as the stop cause the recorder and the lifecycle event
// report. An MQTT 5 client first gets a DISCONNECT with v5Code, if given.
func closeLink(cl *mqtt.Client, v *violation, v5Code ...packets.Code) error {
	if cl.Properties.ProtocolVersion == 5 && len(v5Code) > 0 {
		_ = cl.WritePacket(packets.Packet{ // best effort: the link closes next either way
			FixedHeader: packets.FixedHeader{Type: packets.Disconnect},
			ReasonCode:  v5Code[0].Code,
		})
	}
	cl.Stop(v)
	return packets.ErrRejectPacket
}

// OnConnect refuses, without CONNACK over 3.1.1 (AWS hangs up), a client
// id AWS refuses, a CONNECT the Policy denies and a CONNECT that comes
// sooner than ConnectInterval after the last one with the same client id.
// MQTT 5 clients get AWS's CONNACK codes for the first two.
func (h *profileHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	id := pk.Connect.ClientIdentifier
	refuse := func(v *violation, v5 packets.Code) error { return h.refuse(cl, id, v, v5) }
	if h.p.MaxClientIDBytes > 0 {
		if err := checkClientID(id, h.p.MaxClientIDBytes); err != nil {
			return refuse(clientError("client id "+err.Error()), packets.ErrClientIdentifierNotValid)
		}
	}
	if strings.HasPrefix(id, "$") {
		return refuse(clientError("client id "+quoteTopic(id)+" starts with $, which AWS IoT Core reserves"), packets.ErrClientIdentifierNotValid)
	}
	if h.p.Policy != nil && !h.p.Policy(id, ActionConnect, id) {
		return refuse(&violation{ReasonAuthError, "the policy denies iot:Connect for " + quoteTopic(id)}, packets.ErrNotAuthorized)
	}
	if id == "" && cl.Properties.ProtocolVersion == 5 {
		cl.ID = assignedClientID()
		cl.Properties.Props.AssignedClientID = cl.ID
	}
	if since, ok := h.connects.admit(cl.ID); !ok {
		return refuse(&violation{ReasonThrottled, "a CONNECT with this client id came " + since.String() +
			" after the last one; AWS IoT Core allows one per " + h.p.ConnectInterval.String()}, packets.Code{})
	}
	return nil
}

// refuse ends a connection before its session begins, as AWS IoT Core
// does: an MQTT 5 client gets a CONNACK with v5 (if it has a code), an
// MQTT 3.1.1 client no CONNACK. The refusal is recorded.
func (h *profileHook) refuse(cl *mqtt.Client, clientID string, v *violation, v5 packets.Code) error {
	if cl.Properties.ProtocolVersion == 5 && v5.Code != 0 {
		_ = h.srv.SendConnack(cl, v5, false, nil) // best effort: the link closes next
	}
	h.refused(cl, clientID, v)
	cl.Stop(v)
	return v
}

// assignedClientID is a client id as AWS IoT Core assigns one to an MQTT 5
// client that gave none: $GEN/ and a random id in UUID form.
func assignedClientID() string {
	h := newSessionID()
	return "$GEN/" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func checkClientID(id string, limit int) error {
	if limit == awsiot.MaxClientIDBytes {
		return awsiot.CheckClientID(id)
	}
	if len(id) > limit {
		return errTooLong(len(id), limit)
	}
	return nil
}

// OnSessionEstablish empties a session of the other MQTT version (AWS
// resumes no session across versions), whether its connection is still up
// or not. mochi then takes the old connection over as always, hands on
// nothing, and the CONNACK says no session is present (OnPacketEncode).
func (h *profileHook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	h.sessions.cancel(cl.ID)
	old, ok := h.srv.Clients.Get(cl.ID)
	if !ok || old.Properties.ProtocolVersion == cl.Properties.ProtocolVersion {
		return
	}
	h.srv.UnsubscribeClient(old)
	old.ClearInflights()
	h.mu.Lock()
	h.crossVersion[cl] = true
	h.mu.Unlock()
}

// OnSessionEstablished starts the connection's limits: unacknowledged
// deliveries, publish rate, lifetime; notes what the client sent before
// its CONNACK; and publishes the connected event.
func (h *profileHook) OnSessionEstablished(cl *mqtt.Client, connect packets.Packet) {
	if n := unackedLimit(cl, h.p.MaxUnackedOutbound); n > 0 {
		cl.State.Inflight.ResetSendQuota(int32(n))
	}
	st := &clientState{subscribing: make(map[string]bool)}
	if w, ok := under[*connectWatch](cl.Net.Conn); ok {
		st.early = w.sentBeforeConnack(connect.FixedHeader)
	}
	if r := h.p.PublishRate; r > 0 {
		per := rate.Limit(float64(r) / h.p.TimeScale)
		st.inbound, st.outbound = rate.NewLimiter(per, r), rate.NewLimiter(per, r)
	}
	if v, d := h.lifetimeOf(cl); d > 0 {
		st.lifetime = time.AfterFunc(d, func() { cl.Stop(v) })
	}
	h.mu.Lock()
	h.clients[cl] = st
	stored := h.resuming[cl]
	delete(h.resuming, cl)
	h.mu.Unlock()
	if len(stored) > 0 {
		st.resume = &resumeQueue{drops: h.drops, pending: stored}
		st.resume.start(cl, h.p.scaled(time.Second/time.Duration(h.p.ResumeRate)), h.p.RedeliverAsNew)
	}
	h.sharedMembersChanged()
	h.lifecycle.connected(cl)
}

// unackedLimit is how many QoS 1 deliveries cl may leave unacknowledged:
// the profile's limit, or less if an MQTT 5 client's Receive Maximum is
// lower; 0 is no limit.
func unackedLimit(cl *mqtt.Client, profileLimit int) int {
	if rm := int(cl.Properties.Props.ReceiveMaximum); rm > 0 && (profileLimit == 0 || rm < profileLimit) {
		return rm
	}
	return profileLimit
}

// lifetimeOf returns how long cl's connection may last, and the cause it
// ends with then.
func (h *profileHook) lifetimeOf(cl *mqtt.Client) (*violation, time.Duration) {
	if cl.Net.Listener == ListenerWSS {
		return &violation{ReasonWebSocketTTL, "the WebSocket connection reached its lifetime of " + h.p.WebSocketLifetime.String()},
			h.p.scaled(h.p.WebSocketLifetime)
	}
	return &violation{ReasonServerInitiated, "the connection reached its lifetime of " + h.p.ConnectionLifetime.String()},
		h.p.scaled(h.p.ConnectionLifetime)
}

// OnDisconnect ends the connection's state, publishes the disconnected
// event, and starts the expiry of a persistent session.
func (h *profileHook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.mu.Lock()
	st := h.clients[cl]
	delete(h.clients, cl)
	h.mu.Unlock()
	if st == nil {
		return
	}
	if st.lifetime != nil {
		st.lifetime.Stop()
	}
	st.restoreReleased(cl)
	if st.resume != nil {
		st.resume.stop(cl)
	}
	if cause := cl.StopCause(); cause != nil {
		err = cause
	}
	h.lifecycle.disconnected(cl, err)
	if !expire && !cl.IsTakenOver() {
		h.sessions.expireLater(cl, h.sessionExpiry(cl))
	}
}

// sessionExpiry is how long cl's session outlives its connection: the
// profile's SessionExpiry, or less if an MQTT 5 client asked for less.
func (h *profileHook) sessionExpiry(cl *mqtt.Client) time.Duration {
	d := h.p.SessionExpiry
	if cl.Properties.ProtocolVersion == 5 {
		if asked := time.Duration(cl.Properties.Props.SessionExpiryInterval) * time.Second; d == 0 || asked < d {
			d = asked
		}
	}
	return h.p.scaled(d)
}

// OnPacketEncode notes the deliveries mochi releases from the hold of
// unacknowledged ones, takes a resumed session's stored deliveries for
// pacing (resume.go), and adds AWS's MQTT 5 CONNACK properties (mochi
// sends only some of them).
func (h *profileHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Publish {
		if pk.Expiry == -1 { // only a held delivery: no lock on the path of every other one
			if st := h.state(cl); st != nil {
				st.noteReleased(pk)
			}
		}
		return pk
	}
	if pk.FixedHeader.Type != packets.Connack {
		return pk
	}
	h.mu.Lock()
	if h.crossVersion[cl] {
		delete(h.crossVersion, cl)
		pk.SessionPresent = false // the old session was emptied: none resumed
	}
	if pk.SessionPresent && h.p.ResumeRate > 0 {
		h.resuming[cl] = takeStored(cl) // before mochi resends them all at once
	}
	h.mu.Unlock()
	if cl.Properties.ProtocolVersion != 5 || pk.ReasonCode != 0 {
		return pk
	}
	pr := &pk.Properties
	pr.TopicAliasMaximum = awsTopicAliasMaximum
	pr.MaximumPacketSize = h.srv.Options.Capabilities.MaximumPacketSize
	pr.RetainAvailableFlag, pr.RetainAvailable = true, 1
	pr.WildcardSubAvailableFlag, pr.WildcardSubAvailable = true, 1
	pr.SubIDAvailableFlag, pr.SubIDAvailable = true, 0
	pr.SharedSubAvailableFlag, pr.SharedSubAvailable = true, 1
	return pk
}
