package main

import (
	"encoding/base64"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/iotmqtt/iotmqtt/broker"
)

// timeFormat is RFC 3339 with all nine digits of the nanoseconds, in UTC,
// so that times compare as strings and differences are exact.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// eventJSON is a broker.Event as the control API shows it: the kind by
// name, the time in RFC 3339 with nanoseconds, and only the fields that
// belong to the kind (a zero that means something, such as QoS 0, is kept).
type eventJSON struct {
	Seq      uint64 `json:"seq"`
	At       string `json:"at"`
	Kind     string `json:"kind"`
	ClientID string `json:"client_id,omitempty"`
	Remote   string `json:"remote,omitempty"`
	Listener string `json:"listener,omitempty"`

	Keepalive    *uint16 `json:"keepalive,omitempty"`
	CleanSession *bool   `json:"clean_session,omitempty"`
	Username     string  `json:"username,omitempty"`
	ServerName   string  `json:"sni,omitempty"`
	ALPN         string  `json:"alpn,omitempty"`
	PeerCN       string  `json:"cn,omitempty"`

	ReturnCode     *byte `json:"return_code,omitempty"`
	SessionPresent *bool `json:"session_present,omitempty"`
	ReturnCodes    []int `json:"return_codes,omitempty"`

	Filters []filterJSON `json:"filters,omitempty"`

	Topic string `json:"topic,omitempty"`
	// Payload is the payload as text when it is UTF-8; PayloadBase64 holds
	// it otherwise. Both are the whole payload.
	Payload       *string `json:"payload,omitempty"`
	PayloadBase64 string  `json:"payload_base64,omitempty"`
	QoS           *byte   `json:"qos,omitempty"`
	Dup           bool    `json:"dup,omitempty"`
	Retain        bool    `json:"retain,omitempty"`
	PacketID      uint16  `json:"packet_id,omitempty"`

	HTTPStatus int `json:"http_status,omitempty"`

	Thing      string `json:"thing,omitempty"`
	ShadowName string `json:"shadow_name,omitempty"`
	ShadowOp   string `json:"shadow_op,omitempty"`

	Fault  string `json:"fault,omitempty"`
	On     *bool  `json:"on,omitempty"`
	Filter string `json:"filter,omitempty"`

	Cause  string `json:"cause,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Reason is AWS IoT Core's disconnectReason for a DISCONNECT.
	Reason string `json:"reason,omitempty"`
}

// filterJSON is one topic filter of a SUBSCRIBE or UNSUBSCRIBE.
type filterJSON struct {
	Filter string `json:"filter"`
	QoS    byte   `json:"qos"`
}

// switchKinds are the faults that stay on until switched off (the others
// are actions, done once).
var switchKinds = []broker.FaultKind{
	broker.FaultRefuse, broker.FaultHangUp, broker.FaultBlackhole, broker.FaultRejectConnect,
	broker.FaultWithholdPuback, broker.FaultAckWithoutDelivery, broker.FaultRefuseSubscription,
}

// toJSON converts an event for the control API.
func toJSON(e broker.Event) eventJSON {
	j := eventJSON{
		Seq: e.Seq, At: formatTime(e.At), Kind: e.Kind.String(),
		ClientID: e.ClientID, Remote: e.Remote, Listener: e.Listener,
		Username: e.Username, ServerName: e.ServerName, ALPN: e.ALPN, PeerCN: e.PeerCN,
		Topic: e.Topic, Dup: e.Dup, Retain: e.Retain, PacketID: e.PacketID,
		HTTPStatus: e.HTTPStatus, Thing: e.Thing, ShadowName: e.ShadowName, ShadowOp: e.ShadowOp,
		Fault: string(e.Fault), Filter: e.Filter, Cause: e.Cause, Detail: e.Detail, Reason: e.Reason,
	}
	for _, rc := range e.ReturnCodes {
		j.ReturnCodes = append(j.ReturnCodes, int(rc))
	}
	for _, f := range e.Filters {
		j.Filters = append(j.Filters, filterJSON{Filter: f.Filter, QoS: f.QoS})
	}
	switch e.Kind {
	case broker.KindConnect:
		j.Keepalive, j.CleanSession = &e.Keepalive, &e.CleanSession
	case broker.KindConnack:
		j.ReturnCode, j.SessionPresent = &e.ReturnCode, &e.SessionPresent
	case broker.KindPublish, broker.KindDeliver, broker.KindDropped:
		j.QoS = &e.QoS
		j.setPayload(e.Payload)
	case broker.KindShadow:
		j.setPayload(e.Payload) // the answer document
	case broker.KindFault:
		if slices.Contains(switchKinds, e.Fault) {
			j.On = &e.On
		}
		if e.Fault == broker.FaultRejectConnect {
			j.ReturnCode = &e.ReturnCode
		}
	default:
		// Kinds this file does not know yet still show what they carry.
		if e.ReturnCode != 0 {
			j.ReturnCode = &e.ReturnCode
		}
		if len(e.Payload) > 0 {
			j.QoS = &e.QoS
			j.setPayload(e.Payload)
		}
	}
	return j
}

// setPayload keeps the whole payload: as text when it is UTF-8, in base64
// otherwise.
func (j *eventJSON) setPayload(p []byte) {
	if utf8.Valid(p) {
		s := string(p)
		j.Payload = &s
		return
	}
	j.PayloadBase64 = base64.StdEncoding.EncodeToString(p)
}

// formatTime renders t in UTC, RFC 3339 with nanoseconds.
func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }
