package broker

import (
	"fmt"
	"strconv"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/iotmqtt/iotmqtt/internal/awsiot"
)

// OnPacketRead closes the link, without an MQTT reply over 3.1.1, for what
// AWS IoT Core closes it for: QoS 2, payloads and topics over the limits,
// reserved topics used as AWS does not allow, too many filters in one
// SUBSCRIBE, publishes the Policy denies, packets AWS does not support,
// and packets sent before the CONNACK (Profile.EarlyPackets).
func (h *profileHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	if st := h.state(cl); st != nil {
		st.restoreReleased(cl) // before mochi looks up the PUBACK of one
		if st.early > 0 {
			v := clientError(fmt.Sprintf("%d bytes sent after the CONNECT before the CONNACK (AWS IoT Core: the client must wait for the CONNACK)", st.early))
			st.early = 0
			return pk, closeLink(cl, v, packets.ErrProtocolViolation)
		}
	}
	switch pk.FixedHeader.Type {
	case packets.Connect:
		if v := h.checkWill(pk); v != nil {
			h.refused(cl, pk.Connect.ClientIdentifier, v)
			return pk, closeLink(cl, v)
		}
	case packets.Publish:
		if v, code := h.checkPublish(cl, pk); v != nil {
			return pk, closeLink(cl, v, code)
		}
	case packets.Subscribe:
		return h.readSubscribe(cl, pk)
	case packets.Unsubscribe:
		for _, f := range pk.Filters {
			if v := h.checkFilter(f.Filter); v != nil {
				return pk, closeLink(cl, v)
			}
		}
	case packets.Pubrec, packets.Pubrel, packets.Pubcomp, packets.Auth:
		return pk, closeLink(cl, clientError(strings.ToUpper(packetName(pk.FixedHeader.Type))+" is not supported by AWS IoT Core"), packets.ErrProtocolViolation)
	}
	return pk, nil
}

// checkWill checks a CONNECT's will (MQTT 5 clients asking for will QoS 2
// get mochi's CONNACK 0x9B, as AWS documents).
func (h *profileHook) checkWill(pk packets.Packet) *violation {
	w := pk.Connect
	if !w.WillFlag {
		return nil
	}
	switch {
	case w.WillQos == 2 && pk.ProtocolVersion < 5:
		return clientError("will QoS 2 (AWS IoT Core supports QoS 0 and 1)")
	case h.p.MaxPayload > 0 && len(w.WillPayload) > h.p.MaxPayload:
		return clientError(fmt.Sprintf("will payload of %d bytes, over the limit of %d", len(w.WillPayload), h.p.MaxPayload))
	}
	return h.checkTopicName(w.WillTopic, w.WillRetain)
}

// checkPublish checks a PUBLISH; the code is the DISCONNECT reason an
// MQTT 5 client gets, where AWS documents one.
func (h *profileHook) checkPublish(cl *mqtt.Client, pk packets.Packet) (*violation, packets.Code) {
	switch {
	case pk.FixedHeader.Qos == 2:
		return clientError("QoS 2 PUBLISH (AWS IoT Core supports QoS 0 and 1)"), packets.ErrQosNotSupported
	case h.p.MaxPayload > 0 && len(pk.Payload) > h.p.MaxPayload:
		return clientError(fmt.Sprintf("payload of %d bytes, over the limit of %d", len(pk.Payload), h.p.MaxPayload)), packets.ErrPacketTooLarge
	case pk.TopicName == "":
		return nil, packets.Code{} // an MQTT 5 topic alias: checked when it was set
	}
	if v := h.checkTopicName(pk.TopicName, pk.FixedHeader.Retain); v != nil {
		return v, packets.Code{}
	}
	if h.p.Policy != nil && !h.p.Policy(cl.ID, ActionPublish, pk.TopicName) {
		return &violation{ReasonAuthError, "the policy denies iot:Publish to " + quoteTopic(pk.TopicName)}, packets.ErrNotAuthorized
	}
	return nil, packets.Code{}
}

// checkTopicName checks a topic to publish to (a PUBLISH's or a will's).
func (h *profileHook) checkTopicName(topic string, retain bool) *violation {
	if h.p.TopicLimits {
		if err := awsiot.CheckTopicName(topic); err != nil {
			return clientError("topic " + quoteTopic(topic) + " " + err.Error())
		}
	}
	if !h.p.ReservedTopics || !strings.HasPrefix(topic, "$") {
		return nil
	}
	switch {
	case retain:
		return clientError("retained publish to the reserved topic " + quoteTopic(topic))
	case !reservedPublishAllowed(topic):
		return clientError("publish to " + quoteTopic(topic) + ", a topic AWS IoT Core reserves or does not let clients publish to")
	}
	return nil
}

// checkFilter checks a SUBSCRIBE's or UNSUBSCRIBE's filter.
func (h *profileHook) checkFilter(filter string) *violation {
	if h.p.TopicLimits {
		if err := awsiot.CheckTopicFilter(filter); err != nil {
			return clientError("filter " + quoteTopic(filter) + " " + err.Error())
		}
	}
	inner := stripShare(filter)
	if h.p.ReservedTopics && strings.HasPrefix(inner, "$") && !reservedSubscribeAllowed(inner) {
		return clientError("subscription to " + quoteTopic(filter) + ", which no reserved topic a client may subscribe to matches")
	}
	return nil
}

// readSubscribe checks a SUBSCRIBE: the link closes for too many filters,
// a filter over the limits or reserved, an MQTT 5 subscription identifier,
// and (by the profile's reactions) QoS 2, a filter the Policy denies and
// subscriptions beyond MaxSubscriptions.
func (h *profileHook) readSubscribe(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if n := h.p.MaxFiltersPerSubscribe; n > 0 && len(pk.Filters) > n {
		return pk, closeLink(cl, clientError(fmt.Sprintf("SUBSCRIBE with %d filters, over the limit of %d", len(pk.Filters), n)))
	}
	st := h.state(cl)
	verdicts := make(map[string]bool, len(pk.Filters))
	fresh := 0 // filters that add a subscription
	for i, f := range pk.Filters {
		if v := h.checkFilter(f.Filter); v != nil {
			return pk, closeLink(cl, v)
		}
		if f.Identifier > 0 {
			return pk, closeLink(cl, clientError("subscription identifiers are not supported by AWS IoT Core"), packets.ErrSubscriptionIdentifiersNotSupported)
		}
		if f.Qos == 2 {
			switch h.p.SubscribeQoS2 {
			case Close:
				return pk, closeLink(cl, clientError("SUBSCRIBE at QoS 2 (AWS IoT Core supports QoS 0 and 1)"))
			case Hang:
				return swallowed(), nil
			case Grant:
				pk.Filters[i].Qos = 1
			}
		}
		allowed := h.p.Policy == nil || h.p.Policy(cl.ID, ActionSubscribe, f.Filter)
		if !allowed && h.p.UnauthorizedSubscribe == Close {
			return pk, closeLink(cl, &violation{ReasonAuthError, "the policy denies iot:Subscribe to " + quoteTopic(f.Filter)})
		}
		if _, had := cl.State.Subscriptions.Get(f.Filter); allowed && !had && !verdictSeen(verdicts, f.Filter) {
			fresh++
			if n := h.p.MaxSubscriptions; n > 0 && cl.State.Subscriptions.Len()+fresh > n {
				if h.p.OverSubscriptions == Close {
					return pk, closeLink(cl, clientError(fmt.Sprintf("subscription %d on one connection, over the limit of %d", n+1, n)))
				}
				allowed = false
				fresh--
			}
		}
		verdicts[f.Filter] = allowed
	}
	if st != nil {
		st.mu.Lock()
		st.subscribing = verdicts
		st.mu.Unlock()
	}
	return pk, nil
}

func verdictSeen(verdicts map[string]bool, filter string) bool {
	_, ok := verdicts[filter]
	return ok
}

// swallowed is what a SUBSCRIBE the profile leaves unanswered becomes: a
// PUBACK for packet id 0, which mochi ignores (the broker never uses id 0),
// so the link stays open and nothing is sent.
func swallowed() packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: 0}
}

func packetName(t byte) string {
	if int(t) < len(packets.PacketNames) {
		return packets.PacketNames[t]
	}
	return "packet type " + strconv.Itoa(int(t))
}

func quoteTopic(s string) string {
	if len(s) > 80 {
		s = s[:77] + "…"
	}
	return strconv.Quote(s)
}

func errTooLong(n, limit int) error {
	return fmt.Errorf("is %d bytes, longer than the limit of %d", n, limit)
}
