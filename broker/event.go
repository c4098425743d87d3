package broker

import (
	"fmt"
	"strings"
	"time"
)

// Kind is the type of a recorded event.
type Kind int

const (
	// KindAccept is a TCP connection accepted by a proxy (Remote is the
	// client's address; Fault is FaultHangUp if it was hung up on).
	KindAccept Kind = iota + 1
	// KindTLSFailure is a TLS handshake the broker refused or lost (Cause
	// says why).
	KindTLSFailure
	// KindConnect is a CONNECT packet received.
	KindConnect
	// KindConnack is a CONNACK sent (ReturnCode, SessionPresent).
	KindConnack
	// KindSubscribe is a SUBSCRIBE received (Filters).
	KindSubscribe
	// KindSuback is a SUBACK sent (ReturnCodes).
	KindSuback
	// KindUnsubscribe is an UNSUBSCRIBE received (Filters hold the
	// filters).
	KindUnsubscribe
	// KindUnsuback is an UNSUBACK sent.
	KindUnsuback
	// KindPublish is a PUBLISH received from a client.
	KindPublish
	// KindPuback is a PUBACK sent to a client (PacketID).
	KindPuback
	// KindDeliver is a PUBLISH sent to a client.
	KindDeliver
	// KindDeliveryAck is a PUBACK received from a client for a delivery
	// (PacketID).
	KindDeliveryAck
	// KindPingreq is a PINGREQ received.
	KindPingreq
	// KindDisconnect is the end of a client's session, or of a connection
	// the AWS profile refused before its session began; Cause is empty for
	// a clean MQTT DISCONNECT and otherwise says what ended it; Reason
	// classifies it as AWS IoT Core's lifecycle events do
	// (ReasonClientInitiated, ReasonClientError, …).
	KindDisconnect
	// KindUpgrade is a WebSocket upgrade request (Detail: the request URI;
	// HTTPStatus: 101, or 403 with Cause for a refused signature).
	KindUpgrade
	// KindFault is a fault of the harness: Fault says which; On says
	// whether a switch went on or off; ClientID, Topic and PacketID say
	// which client or packet it hit, if one; Detail says it in words.
	KindFault
	// KindDropped is a message mochi did not deliver, with no reply to
	// anyone: a subscriber's copy it dropped (ClientID is the subscriber;
	// for a shared subscription's group that lost it, the group's filter,
	// $share/<group>/<filter>), or a client PUBLISH it ignored (ClientID is
	// the publisher). Topic,
	// Payload and QoS are the message's; Cause says why.
	KindDropped
	// KindShadow is a Device Shadow request the service answered: from a
	// client (ClientID, Listener, Topic: the request topic) or from the
	// data plane (Broker.UpdateShadow and the like; Detail "data plane").
	// Thing, ShadowName and ShadowOp say which shadow and operation;
	// HTTPStatus is the result (200 accepted, or AWS's error code, with
	// its message in Cause); Payload is the answer document.
	KindShadow
)

var kindNames = map[Kind]string{
	KindAccept: "ACCEPT", KindTLSFailure: "TLS-FAILURE", KindConnect: "CONNECT", KindConnack: "CONNACK",
	KindSubscribe: "SUBSCRIBE", KindSuback: "SUBACK", KindUnsubscribe: "UNSUBSCRIBE", KindUnsuback: "UNSUBACK",
	KindPublish: "PUBLISH", KindPuback: "PUBACK", KindDeliver: "DELIVER", KindDeliveryAck: "DELIVERY-ACK", KindPingreq: "PINGREQ",
	KindDisconnect: "DISCONNECT", KindUpgrade: "UPGRADE", KindFault: "FAULT", KindDropped: "DROPPED",
	KindShadow: "SHADOW",
}

// String names the kind.
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// TopicFilter is one topic filter of a SUBSCRIBE or UNSUBSCRIBE.
type TopicFilter struct {
	Filter string
	QoS    byte
}

// Event is one thing the broker saw. Only the fields that belong to its Kind
// are set.
type Event struct {
	Seq      uint64    // 1, 2, 3… in recording order
	At       time.Time // when it was seen (carries a monotonic reading)
	Kind     Kind
	ClientID string
	Remote   string // the client's address as the proxy saw it, when known
	Listener string // "mtls", "tcp", or a proxy's name

	// CONNECT
	Keepalive    uint16
	CleanSession bool
	Username     string
	ServerName   string // TLS SNI
	ALPN         string // negotiated TLS application protocol
	PeerCN       string // common name of the client certificate

	// CONNACK, SUBACK
	ReturnCode     byte
	SessionPresent bool
	ReturnCodes    []byte

	// SUBSCRIBE, UNSUBSCRIBE
	Filters []TopicFilter

	// PUBLISH, DELIVER, PUBACK, DROPPED
	Topic    string
	Payload  []byte
	QoS      byte
	Dup      bool
	Retain   bool
	PacketID uint16

	// UPGRADE, SHADOW
	HTTPStatus int

	// SHADOW
	Thing      string
	ShadowName string // "" for the classic shadow
	ShadowOp   string // "get", "update" or "delete"

	// FAULT (and ReturnCode for FaultRejectConnect)
	Fault  FaultKind
	On     bool
	Filter string // FaultRefuseSubscription

	// TLS-FAILURE, DISCONNECT, UPGRADE, DROPPED, FAULT, SHADOW
	Cause  string
	Detail string
	// DISCONNECT: AWS IoT Core's disconnectReason for it.
	Reason string
}

// String renders the event on one line, for logs and failure messages.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %s", e.Seq, e.At.Format("15:04:05.000000"), e.Kind)
	if e.ClientID != "" {
		fmt.Fprintf(&b, " client=%s", e.ClientID)
	}
	switch e.Kind {
	case KindAccept:
		fmt.Fprintf(&b, " remote=%s %s", e.Remote, e.Detail)
	case KindConnect:
		fmt.Fprintf(&b, " keepalive=%d clean=%v username=%q sni=%q alpn=%q cn=%q", e.Keepalive, e.CleanSession, e.Username, e.ServerName, e.ALPN, e.PeerCN)
	case KindConnack:
		fmt.Fprintf(&b, " rc=%d present=%v", e.ReturnCode, e.SessionPresent)
	case KindSubscribe, KindUnsubscribe:
		fmt.Fprintf(&b, " %v", e.Filters)
	case KindSuback:
		fmt.Fprintf(&b, " codes=%v", e.ReturnCodes)
	case KindPublish, KindDeliver:
		fmt.Fprintf(&b, " topic=%s qos=%d dup=%v id=%d payload=%q", e.Topic, e.QoS, e.Dup, e.PacketID, truncate(e.Payload, 40))
	case KindPuback, KindDeliveryAck:
		fmt.Fprintf(&b, " id=%d", e.PacketID)
	case KindTLSFailure:
		fmt.Fprintf(&b, " cause=%q", e.Cause)
	case KindDisconnect:
		fmt.Fprintf(&b, " reason=%s cause=%q", e.Reason, e.Cause)
	case KindUpgrade:
		fmt.Fprintf(&b, " status=%d %s", e.HTTPStatus, truncate([]byte(e.Detail), 60))
		if e.Cause != "" {
			fmt.Fprintf(&b, " cause=%q", e.Cause)
		}
	case KindDropped:
		fmt.Fprintf(&b, " topic=%s qos=%d payload=%q cause=%q", e.Topic, e.QoS, truncate(e.Payload, 40), e.Cause)
	case KindShadow:
		fmt.Fprintf(&b, " %s thing=%s", e.ShadowOp, e.Thing)
		if e.ShadowName != "" {
			fmt.Fprintf(&b, " shadow=%s", e.ShadowName)
		}
		fmt.Fprintf(&b, " code=%d", e.HTTPStatus)
		if e.Cause != "" {
			fmt.Fprintf(&b, " cause=%q", e.Cause)
		}
	case KindFault:
		fmt.Fprintf(&b, " %s", e.Fault)
		if e.Topic != "" {
			fmt.Fprintf(&b, " topic=%s id=%d", e.Topic, e.PacketID)
		}
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	if e.Listener != "" {
		fmt.Fprintf(&b, " [%s]", e.Listener)
	}
	return b.String()
}

func truncate(p []byte, n int) string {
	if len(p) <= n {
		return string(p)
	}
	return string(p[:n]) + "…"
}
