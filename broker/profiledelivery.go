package broker

import (
	"slices"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotmqtt/iotmqtt/internal/awsiot"
)

// maxMessageExpiry is AWS IoT Core's longest MQTT 5 message expiry, 7 days.
const maxMessageExpiry = 604800

// OnSubscribe keeps retained messages from wildcard filters: AWS IoT Core
// sends a retained message only to a filter that names its topic exactly.
func (h *profileHook) OnSubscribe(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline {
		return pk
	}
	for i, f := range pk.Filters {
		if strings.ContainsAny(f.Filter, "+#") {
			pk.Filters[i].RetainHandling = 2 // never send retained messages
		}
	}
	return pk
}

// OnSubscribed ends the SUBSCRIBE's decisions and publishes the subscribed
// event for the filters granted.
func (h *profileHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	if cl.Net.Inline {
		return
	}
	var granted []string
	for i, f := range pk.Filters {
		if i < len(codes) && codes[i] < 0x80 {
			granted = append(granted, f.Filter)
		}
	}
	if st := h.state(cl); st != nil {
		st.mu.Lock()
		st.subscribing = nil
		if h.p.SubscribeDelay > 0 {
			if st.subscribedAt == nil {
				st.subscribedAt = make(map[string]time.Time)
			}
			for _, f := range granted {
				st.subscribedAt[f] = time.Now()
			}
		}
		st.mu.Unlock()
	}
	h.lifecycle.subscriptions(cl, "subscribed", granted)
	if slices.ContainsFunc(granted, mqtt.IsSharedFilter) {
		h.sharedMembersChanged()
	}
}

// OnUnsubscribed publishes the unsubscribed event.
func (h *profileHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return
	}
	var filters []string
	for _, f := range pk.Filters {
		filters = append(filters, f.Filter)
	}
	h.lifecycle.subscriptions(cl, "unsubscribed", filters)
	if slices.ContainsFunc(filters, mqtt.IsSharedFilter) {
		h.sharedMembersChanged()
	}
}

// OnPublish discards publishes beyond PublishRate (no PUBACK), hands Basic
// Ingest messages to nobody (PUBACK, no subscriber), and caps an MQTT 5
// message expiry at AWS's 7 days.
func (h *profileHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	if st := h.state(cl); st != nil && st.inbound != nil && !st.inbound.Allow() {
		v := &violation{ReasonThrottled, "over " + strconv.Itoa(h.p.PublishRate) + " publishes per second from this connection"}
		if h.p.PublishRateExceeded == Close {
			return pk, closeLink(cl, v)
		}
		h.drops.record(cl.ID, pk, v.Error())
		return pk, packets.ErrRejectPacket
	}
	if h.p.ReservedTopics && strings.HasPrefix(pk.TopicName, awsiot.BasicIngestPrefix) {
		return pk, packets.CodeSuccessIgnore
	}
	if pk.Properties.MessageExpiryInterval > maxMessageExpiry {
		pk.Properties.MessageExpiryInterval = maxMessageExpiry
		pk.Expiry = pk.Created + maxMessageExpiry // mochi set it from the asked expiry before this hook
	}
	return pk, nil
}

// OnPacketSent sends every DuplicateQoS0Every-th QoS 0 delivery to a
// client a second time.
func (h *profileHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos != 0 || pk.Ignore || cl.Net.Inline {
		return
	}
	st := h.state(cl)
	if st == nil || st.qos0Sent.Add(1)%int64(h.p.DuplicateQoS0Every) != 0 {
		return
	}
	pk.Ignore = true // the duplicate: not counted, not duplicated again
	_ = cl.WritePacket(pk)
}

// allows decides mochi's OnACLCheck for the profile: for a filter of the
// SUBSCRIBE being processed, the verdict readSubscribe reached; for a
// delivery, whether AWS IoT Core would deliver topic to cl at all (its
// "a/#" does not match "a"), whether the Policy lets cl receive it, and
// whether cl's publish rate has room. Publishes were decided on reading.
func (h *profileHook) allows(cl *mqtt.Client, topic string, write bool) bool {
	if write || cl.Net.Inline {
		return true
	}
	st := h.state(cl)
	if st != nil {
		st.mu.Lock()
		verdict, subscribing := st.subscribing[topic]
		st.mu.Unlock()
		if subscribing {
			return verdict
		}
	}
	if !subscribedAWS(cl, topic) {
		return false
	}
	pk := packets.Packet{TopicName: topic}
	if h.p.SubscribeDelay > 0 && st != nil && !h.subscriptionReady(cl, st, topic) {
		h.drops.record(cl.ID, pk, "within "+h.p.SubscribeDelay.String()+" of the SUBACK (Profile.SubscribeDelay)")
		return false
	}
	if h.p.Policy != nil && !h.p.Policy(cl.ID, ActionReceive, topic) {
		h.drops.record(cl.ID, pk, "the policy denies iot:Receive for "+quoteTopic(topic))
		return false
	}
	if st != nil && st.outbound != nil && !st.outbound.Allow() {
		h.drops.record(cl.ID, pk, ReasonThrottled+": over "+strconv.Itoa(h.p.PublishRate)+" publishes per second to this connection")
		return false
	}
	return true
}

// subscribedAWS says whether one of cl's filters matches topic as AWS IoT
// Core matches (mochi matched it already, also where "a/#" meets "a").
func subscribedAWS(cl *mqtt.Client, topic string) bool {
	for f := range cl.State.Subscriptions.GetAll() {
		if matchesAWS(stripShare(f), topic) {
			return true
		}
	}
	return false
}

// subscriptionReady says whether one of cl's filters that match topic was
// granted at least SubscribeDelay ago (those of a resumed session count as
// old).
func (h *profileHook) subscriptionReady(cl *mqtt.Client, st *clientState, topic string) bool {
	delay := h.p.scaled(h.p.SubscribeDelay)
	st.mu.Lock()
	defer st.mu.Unlock()
	for f := range cl.State.Subscriptions.GetAll() {
		if !matchesAWS(stripShare(f), topic) {
			continue
		}
		if at, recent := st.subscribedAt[f]; !recent || time.Since(at) >= delay {
			return true
		}
	}
	return false
}

// stripShare returns a shared filter's topic filter.
func stripShare(filter string) string {
	if !strings.HasPrefix(filter, awsiot.SharedPrefix) {
		return filter
	}
	if parts := strings.SplitN(filter, "/", 3); len(parts) == 3 {
		return parts[2]
	}
	return filter
}
