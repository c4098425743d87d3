package broker

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// v3Refusals maps MQTT 3.1.1 CONNACK return codes to the mochi codes that
// encode to them.
var v3Refusals = map[byte]packets.Code{
	1: packets.ErrUnsupportedProtocolVersion,
	2: packets.ErrClientIdentifierNotValid,
	3: packets.ErrServerUnavailable,
	4: packets.ErrMalformedUsername,
	5: packets.ErrBadUsernameOrPassword,
}

// controlHook authorises every client that got through the listener (mutual
// TLS has already verified its certificate) and applies the protocol faults.
// It must be the only hook that authenticates: mochi ORs them.
type controlHook struct {
	mqtt.HookBase
	srv    *mqtt.Server
	faults *faults
	rec    *Recorder
	// profile, if set, is the AWS IoT Core profile, whose ACL decisions
	// this hook makes for it.
	profile *profileHook
	// authorize, if set, decides for connections without a client
	// certificate (custom authorizer emulation).
	authorize func(username, password string) bool
}

// tlsConn returns the TLS connection under a client's connection: under the
// keepalive correction on the mutual-TLS listener, and further under the
// WebSocket and the handshake rewriter on the wss listener.
func tlsConn(cl *mqtt.Client) (*tls.Conn, bool) { return under[*tls.Conn](cl.Net.Conn) }

// accessKeyOf returns the access key id that signed a WebSocket client's
// upgrade request, or "".
func accessKeyOf(cl *mqtt.Client) string {
	if sc, ok := under[*signedConn](cl.Net.Conn); ok {
		return sc.accessKey
	}
	return ""
}

// under finds the connection of type T in the chain of wrappers (each with
// an Underlying method) from c down.
func under[T net.Conn](c net.Conn) (T, bool) {
	for {
		if t, ok := c.(T); ok {
			return t, true
		}
		u, ok := c.(interface{ Underlying() net.Conn })
		if !ok {
			var zero T
			return zero, false
		}
		c = u.Underlying()
	}
}

func (h *controlHook) ID() string { return "iotmqtt-control" }

func (h *controlHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnect, mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnPublish}, []byte{b})
}

// OnConnect applies the RejectConnect fault, and under the AWS profile
// refuses a custom-authorizer client the authorizer denies as AWS does
// (over MQTT 3.1.1 without CONNACK; plain mochi sends return code 5).
func (h *controlHook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	rc := byte(h.faults.connackCode.Load())
	if rc == 0 {
		if h.profile != nil && !h.authenticated(cl, pk) {
			return h.profile.refuse(cl, pk.Connect.ClientIdentifier,
				&violation{ReasonAuthError, "the custom authorizer denied the CONNECT"}, packets.ErrNotAuthorized)
		}
		return nil
	}
	code := v3Refusals[rc]
	if err := h.srv.SendConnack(cl, code, false, nil); err != nil {
		return err
	}
	return code
}

// OnConnectAuthenticate lets in every client that got through its listener
// (mutual TLS verified the certificate; wss verified the signature), and
// asks the custom authorizer about TLS clients without a certificate.
func (h *controlHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	return h.authenticated(cl, pk)
}

func (h *controlHook) authenticated(cl *mqtt.Client, pk packets.Packet) bool {
	tc, ok := tlsConn(cl)
	if !ok || (cl.Net.Listener != ListenerMTLS && cl.Net.Listener != ListenerALPN) || len(tc.ConnectionState().PeerCertificates) > 0 {
		return true
	}
	return h.authorize != nil && h.authorize(string(pk.Connect.Username), string(pk.Connect.Password))
}

// OnACLCheck combines, with AND, the subscription fault and the profile's
// decision (mochi ORs OnACLCheck across hooks, so this is the only hook
// that provides it).
func (h *controlHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if !write && h.faults.subscriptionRefused(topic) {
		return false
	}
	return h.profile == nil || h.profile.allows(cl, topic, write)
}

func (h *controlHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	var kind FaultKind
	var detail string
	var err error
	switch {
	case h.faults.pubackWithheld(pk.TopicName):
		kind, detail, err = FaultWithholdPuback, "PUBLISH dropped: no PUBACK, no delivery", packets.ErrRejectPacket
	case h.faults.ackNoDelivery.Load():
		kind, detail, err = FaultAckWithoutDelivery, "PUBLISH acknowledged, not delivered", packets.CodeSuccessIgnore
	default:
		return pk, nil
	}
	h.rec.add(Event{Kind: KindFault, Fault: kind, On: true, ClientID: cl.ID, Listener: cl.Net.Listener, Topic: pk.TopicName, PacketID: pk.PacketID, Detail: detail})
	return pk, err
}

// recordHook records what the broker reads from and writes to clients.
type recordHook struct {
	mqtt.HookBase
	rec   *Recorder
	drops *drops
	// clientAddr maps mochi's view of a remote address (the proxy's
	// upstream socket) to the device's own address.
	clientAddr func(string) string
	// skipMessages leaves out PUBLISH, PUBACK and deliveries (high volume).
	skipMessages bool
}

func (h *recordHook) ID() string { return "iotmqtt-recorder" }

func (h *recordHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnPacketRead, mqtt.OnPacketEncode, mqtt.OnDisconnect}, []byte{b})
}

func (h *recordHook) base(cl *mqtt.Client, k Kind) Event {
	return Event{Kind: k, ClientID: cl.ID, Listener: cl.Net.Listener, Remote: h.clientAddr(cl.Net.Remote)}
}

// isMessage says whether a packet type carries or acknowledges a message.
func isMessage(t byte) bool {
	return t == packets.Publish || t == packets.Puback
}

func (h *recordHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	if pk.FixedHeader.Type == packets.Publish {
		defer h.recordIgnored(cl, pk) // after the PUBLISH itself
	}
	if h.skipMessages && isMessage(pk.FixedHeader.Type) {
		return pk, nil
	}
	switch pk.FixedHeader.Type {
	case packets.Connect:
		e := h.base(cl, KindConnect)
		e.ClientID = pk.Connect.ClientIdentifier
		e.Keepalive = pk.Connect.Keepalive
		e.CleanSession = pk.Connect.Clean
		e.Username = string(pk.Connect.Username)
		if tc, ok := tlsConn(cl); ok {
			st := tc.ConnectionState()
			e.ServerName, e.ALPN = st.ServerName, st.NegotiatedProtocol
			if len(st.PeerCertificates) > 0 {
				e.PeerCN = st.PeerCertificates[0].Subject.CommonName
			}
		}
		h.rec.add(e)
	case packets.Subscribe, packets.Unsubscribe:
		k := KindSubscribe
		if pk.FixedHeader.Type == packets.Unsubscribe {
			k = KindUnsubscribe
		}
		e := h.base(cl, k)
		e.PacketID = pk.PacketID
		for _, f := range pk.Filters {
			e.Filters = append(e.Filters, TopicFilter{Filter: f.Filter, QoS: f.Qos})
		}
		h.rec.add(e)
	case packets.Publish:
		h.rec.add(h.publishEvent(cl, KindPublish, pk))
	case packets.Pingreq:
		h.rec.add(h.base(cl, KindPingreq))
	case packets.Puback:
		e := h.base(cl, KindDeliveryAck)
		e.PacketID = pk.PacketID
		h.rec.add(e)
	}
	return pk, nil
}

// recordIgnored records a client PUBLISH that mochi will ignore.
func (h *recordHook) recordIgnored(cl *mqtt.Client, pk packets.Packet) {
	if reason := ignoredPublish(pk.TopicName); reason != "" {
		h.drops.record(cl.ID, pk, reason)
	}
}

func (h *recordHook) publishEvent(cl *mqtt.Client, k Kind, pk packets.Packet) Event {
	e := h.base(cl, k)
	e.Topic = pk.TopicName
	e.Payload = bytes.Clone(pk.Payload)
	e.QoS = pk.FixedHeader.Qos
	e.Dup = pk.FixedHeader.Dup
	e.Retain = pk.FixedHeader.Retain
	e.PacketID = pk.PacketID
	return e
}

// OnPacketEncode records a packet the broker is about to send, before its
// bytes leave (mochi runs it in WritePacket before encoding and writing), so
// a client that has acted on the packet always finds it recorded, and its
// answer comes later in the recorder. A packet whose write then fails stays
// recorded: the link's DISCONNECT follows, and for a delivery that is
// thereby lost, a DROPPED event.
func (h *recordHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if !cl.Net.Inline && !(h.skipMessages && isMessage(pk.FixedHeader.Type)) {
		h.recordSent(cl, pk)
	}
	return pk
}

func (h *recordHook) recordSent(cl *mqtt.Client, pk packets.Packet) {
	switch pk.FixedHeader.Type {
	case packets.Connack:
		e := h.base(cl, KindConnack)
		e.ReturnCode = pk.ReasonCode
		e.SessionPresent = pk.SessionPresent
		h.rec.add(e)
	case packets.Suback:
		e := h.base(cl, KindSuback)
		e.PacketID = pk.PacketID
		e.ReturnCodes = bytes.Clone(pk.ReasonCodes)
		h.rec.add(e)
	case packets.Puback, packets.Unsuback:
		k := KindPuback
		if pk.FixedHeader.Type == packets.Unsuback {
			k = KindUnsuback
		}
		e := h.base(cl, k)
		e.PacketID = pk.PacketID
		h.rec.add(e)
	case packets.Publish:
		h.rec.add(h.publishEvent(cl, KindDeliver, pk))
	}
}

func (h *recordHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	if cl.Net.Inline {
		return
	}
	e := h.base(cl, KindDisconnect)
	// The stop cause is what ended the session first: the broker's own
	// reason when it stopped the client (the read loop then fails with
	// "use of closed network connection", or ends without an error), or
	// the read error mochi stopped it with. A client's own DISCONNECT is
	// the clean case, with no cause.
	if cause := cl.StopCause(); cause != nil {
		err = cause
	}
	if err != nil && !errors.Is(err, packets.CodeDisconnect) {
		e.Cause = err.Error()
	}
	e.Reason = disconnectReason(err)
	h.rec.add(e)
}

// refused records the end of a connection the AWS profile refused before
// its session began (mochi calls no OnDisconnect for it).
func (h *recordHook) refused(cl *mqtt.Client, clientID string, v *violation) {
	e := h.base(cl, KindDisconnect)
	e.ClientID = clientID
	e.Cause, e.Reason = v.Error(), v.reason
	h.rec.add(e)
}

// describeRefusal names a CONNACK return code.
func describeRefusal(rc byte) string {
	if c, ok := v3Refusals[rc]; ok {
		return fmt.Sprintf("%d (%s)", rc, c.Reason)
	}
	return fmt.Sprintf("%d", rc)
}
