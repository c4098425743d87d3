package broker

import (
	"errors"
	"fmt"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/iotmqtt/iotmqtt/internal/awsiot"
)

// AWS IoT Core's MQTT 5 CONNACK values (aws-iot-device-sdk-js-v2#535).
const (
	awsTopicAliasMaximum = 8
	awsMaximumPacketSize = 149504
	awsReceiveMaximum    = 100
)

// Profile is how the broker behaves like AWS IoT Core: its limits, and how
// it answers what breaks them. The broker runs AWSIoTCore() unless
// WithPlainMQTT (plain mochi) or WithProfile (another Profile, usually
// AWSIoTCore() with a field changed) is given. A zero limit is no limit.
//
// Over MQTT 3.1.1, AWS IoT Core answers almost every violation by closing
// the connection without an MQTT reply; so does the profile, and the
// recorder says why (Event.Cause, Event.Reason). The README lists every
// behaviour with AWS's documentation; fields marked "to be confirmed" are
// behaviours AWS does not document exactly, with the default chosen. A
// zero TimeScale or Reaction means the default.
type Profile struct {
	// TimeScale multiplies every AWS timer of the profile: keepalive
	// deadlines, the connect and publish rate windows, session expiry,
	// connection lifetimes and the throughput window. 1 is AWS's time;
	// 0.01 turns the 30 s keepalive minimum into 0.3 s and the 1 h session
	// expiry into 36 s, for tests on real sockets. In a testing/synctest
	// bubble, where waiting costs nothing, keep 1.
	TimeScale float64

	// MaxPayload: a PUBLISH (or will) with a larger payload closes the
	// link (CLIENT_ERROR). AWS: 131,072 bytes.
	MaxPayload int
	// TopicLimits applies AWS's 256-byte, 7-slash limits to topic names
	// and filters (not counting $aws/rules/<rule>/ and $share/<group>/);
	// a longer one closes the link.
	TopicLimits bool
	// MaxClientIDBytes: a longer client id is refused without CONNACK.
	// AWS: 128. Client ids starting with $ are refused too (AWS reserves
	// them).
	MaxClientIDBytes int
	// MaxFiltersPerSubscribe: a SUBSCRIBE with more closes the link. AWS: 8.
	MaxFiltersPerSubscribe int
	// MaxSubscriptions per connection (AWS: 50), and what a SUBSCRIBE over
	// it gets: Close (AWS's documented answer, default) or SubackFailure
	// (what some field reports saw). To be confirmed.
	MaxSubscriptions  int
	OverSubscriptions Reaction
	// SubscribeQoS2 is the answer to a SUBSCRIBE at QoS 2: Close (default),
	// Hang (no SUBACK, link kept) or Grant (granted QoS 1, as mochi does).
	// AWS documents only that it sends no SUBACK. To be confirmed.
	SubscribeQoS2 Reaction
	// UnauthorizedSubscribe is the answer to a SUBSCRIBE the Policy
	// denies: Close (default, AWS's answer in 2017) or SubackFailure. To be
	// confirmed.
	UnauthorizedSubscribe Reaction
	// MinKeepalive and MaxKeepalive clamp the keepalive a client asks for,
	// in seconds: 1–29 becomes MinKeepalive, 0 and more than MaxKeepalive
	// become MaxKeepalive; the link closes after 1.5 times that without
	// traffic (MQTT_KEEP_ALIVE_TIMEOUT). AWS: 30 and 1200.
	MinKeepalive, MaxKeepalive uint16
	// MaxUnackedOutbound is how many QoS 1 deliveries a client may leave
	// unacknowledged; later ones wait for its PUBACKs. AWS: 100.
	MaxUnackedOutbound int
	// UnackedExpiry drops a QoS 1 delivery still unacknowledged after this
	// long (recorded as DROPPED), in a live or a stored session. AWS: 1 h.
	UnackedExpiry time.Duration
	// UnackedResend resends a QoS 1 delivery (DUP, same packet id) that a
	// connected MQTT 3.1.1 client has left unacknowledged this long,
	// checked each second (so up to a second later). AWS retries for up
	// to an hour, how often is not documented: default 0, resent only when
	// the session resumes (as mochi). MQTT 5 clients are never resent to
	// while connected (MQTT-4.4.0-1). To be confirmed.
	UnackedResend time.Duration
	// PublishRate limits the publishes per second per connection, each
	// direction: inbound ones beyond it are discarded with no PUBACK,
	// outbound ones are not delivered. AWS: 100. PublishRateExceeded
	// chooses what else happens: Discard only (default, AWS's documented
	// answer) or Close (THROTTLED; to be confirmed).
	PublishRate         int
	PublishRateExceeded Reaction
	// Throughput limits the bytes per second a connection may send; more
	// is delayed, not dropped. AWS: 512 KiB.
	Throughput int
	// ConnectInterval is the least time between two accepted CONNECTs with
	// the same client id; an earlier one is refused without CONNACK. AWS:
	// 1 s (field reports saw up to 10 s).
	ConnectInterval time.Duration
	// SessionExpiry is how long a persistent session outlives its
	// connection (an MQTT 5 client may ask for less). AWS: 1 h.
	SessionExpiry time.Duration
	// ResumeRate is how many stored messages per second a resumed
	// persistent session is sent, alongside live traffic. AWS: 10.
	ResumeRate int
	// SharedQueueRate: a message on a shared subscription,
	// $share/<group>/<filter>, goes to one online member of the group;
	// while none is online, QoS 1 messages wait in the group's queue (its
	// offline members have persistent sessions) and go out, once members
	// are online, at this many a second per member, the first one
	// interval after a member comes online. AWS: 20. 0: mochi's shared
	// subscriptions (any member, online or not; an offline one's session
	// keeps its QoS 1 messages).
	SharedQueueRate int
	// DuplicateQoS0Every sends every so many QoS 0 deliveries to a client
	// twice, as AWS warns a QoS 0 message "may arrive more than once": a
	// test of a device's handling of duplicates. Default 0: never.
	DuplicateQoS0Every int
	// EarlyPackets is the answer to a client that sends packets after its
	// CONNECT before the CONNACK came, which AWS forbids ("the client must
	// wait for CONNACK"): Close (default; the link closes after the
	// CONNACK, CLIENT_ERROR, before any of them is processed) or Accept
	// (processed, as mochi does). To be confirmed.
	EarlyPackets Reaction
	// RedeliverAsNew sends those stored messages with new packet ids and
	// without the DUP flag, as AWS may ("a resend may carry a new packet
	// ID", "the MQTT DUP flag is not supported"); default false: their
	// packet ids, DUP set (MQTT's rule, and mochi's). To be confirmed.
	RedeliverAsNew bool
	// SubscribeDelay holds back deliveries on a new subscription for this
	// long after its SUBACK (they are DROPPED), as AWS warns "there might
	// be a delay"; how long is not documented: default 0.
	SubscribeDelay time.Duration
	// WebSocketLifetime closes a WebSocket connection after this long
	// (WEBSOCKET_TTL_EXPIRATION). AWS: 24 h.
	WebSocketLifetime time.Duration
	// ConnectionLifetime closes other connections after this long
	// (SERVER_INITIATED_DISCONNECT). AWS: 1–2 weeks, not guaranteed,
	// "can be as short as a few minutes"; 0 (default) never.
	ConnectionLifetime time.Duration
	// RequireSNI refuses TLS handshakes without a server name, as AWS
	// does. Connections without SNI are recorded (Event.ServerName "")
	// either way.
	RequireSNI bool
	// ReservedTopics allows only AWS's documented $aws topics, each for
	// what AWS allows (publish, subscribe), no other $ topic (no $SYS),
	// and no retained publish to a reserved topic; anything else closes
	// the link. $aws/rules/… (Basic Ingest) is acknowledged and goes to no
	// subscriber.
	ReservedTopics bool
	// LifecycleEvents publishes AWS's presence and subscription events on
	// $aws/events/….
	LifecycleEvents bool
	// Policy, if set, decides what each client may do, as an AWS IoT
	// policy does; a denied CONNECT or PUBLISH closes the link
	// (AUTH_ERROR), a denied SUBSCRIBE gets UnauthorizedSubscribe, a
	// denied receive is silently not delivered.
	Policy Policy
}

// Reaction is how the profile answers a request AWS documents no exact
// answer for.
type Reaction int

const (
	// Close closes the connection without an MQTT reply.
	Close Reaction = iota + 1
	// SubackFailure answers the filter with SUBACK return code 0x80 and
	// keeps the connection.
	SubackFailure
	// Hang sends no reply and keeps the connection.
	Hang
	// Grant grants the subscription at QoS 1.
	Grant
	// Discard drops the request without a reply and keeps the connection.
	Discard
	// Accept processes the request as MQTT says.
	Accept
)

var reactionNames = map[Reaction]string{Close: "Close", SubackFailure: "SubackFailure", Hang: "Hang", Grant: "Grant", Discard: "Discard", Accept: "Accept"}

// String names the reaction.
func (r Reaction) String() string {
	if n, ok := reactionNames[r]; ok {
		return n
	}
	return fmt.Sprintf("Reaction(%d)", int(r))
}

// Action is what a client asks to do, as named in AWS IoT policies.
type Action string

// The actions a Policy decides.
const (
	ActionConnect   Action = "iot:Connect"   // resource: the client id
	ActionPublish   Action = "iot:Publish"   // resource: the topic
	ActionSubscribe Action = "iot:Subscribe" // resource: the topic filter
	ActionReceive   Action = "iot:Receive"   // resource: the topic
)

// Policy decides whether a client may do an action on a resource (see
// Action).
type Policy func(clientID string, action Action, resource string) bool

// AWSIoTCore returns the profile of AWS IoT Core as documented: the
// defaults of every Profile field.
func AWSIoTCore() Profile {
	return Profile{
		TimeScale:              1,
		MaxPayload:             awsiot.MaxPayload,
		TopicLimits:            true,
		MaxClientIDBytes:       awsiot.MaxClientIDBytes,
		MaxFiltersPerSubscribe: awsiot.MaxFiltersPerSubscribe,
		MaxSubscriptions:       50,
		OverSubscriptions:      Close,
		SubscribeQoS2:          Close,
		UnauthorizedSubscribe:  Close,
		MinKeepalive:           30,
		MaxKeepalive:           1200,
		MaxUnackedOutbound:     100,
		UnackedExpiry:          time.Hour,
		PublishRate:            100,
		PublishRateExceeded:    Discard,
		EarlyPackets:           Close,
		Throughput:             512 * 1024,
		ConnectInterval:        time.Second,
		SessionExpiry:          time.Hour,
		ResumeRate:             10,
		SharedQueueRate:        20,
		WebSocketLifetime:      24 * time.Hour,
		RequireSNI:             true,
		ReservedTopics:         true,
		LifecycleEvents:        true,
	}
}

// withDefaults fills in a zero TimeScale and zero reactions.
func (p Profile) withDefaults() Profile {
	d := AWSIoTCore()
	if p.TimeScale == 0 {
		p.TimeScale = d.TimeScale
	}
	for _, f := range []struct{ r, def *Reaction }{
		{&p.OverSubscriptions, &d.OverSubscriptions}, {&p.SubscribeQoS2, &d.SubscribeQoS2},
		{&p.UnauthorizedSubscribe, &d.UnauthorizedSubscribe}, {&p.PublishRateExceeded, &d.PublishRateExceeded},
		{&p.EarlyPackets, &d.EarlyPackets},
	} {
		if *f.r == 0 {
			*f.r = *f.def
		}
	}
	return p
}

// Validate says which fields make no sense (a zero TimeScale or Reaction
// is the default, and fine). The broker refuses to start with such a
// profile; Validate tells sooner, e.g. when a command line sets one.
func (p Profile) Validate() error {
	p = p.withDefaults()
	bad := func(field, why string) error { return fmt.Errorf("broker: Profile.%s %s", field, why) }
	oneOf := func(field string, r Reaction, allowed ...Reaction) error {
		for _, a := range allowed {
			if r == a {
				return nil
			}
		}
		return bad(field, fmt.Sprintf("is %v; it must be one of %v", r, allowed))
	}
	switch {
	case p.TimeScale < 0:
		return bad("TimeScale", fmt.Sprintf("is %v; it must be above 0 (1 is AWS's time)", p.TimeScale))
	case p.MaxPayload < 0, p.MaxClientIDBytes < 0, p.MaxFiltersPerSubscribe < 0, p.MaxSubscriptions < 0,
		p.MaxUnackedOutbound < 0, p.PublishRate < 0, p.Throughput < 0, p.ConnectInterval < 0, p.ResumeRate < 0, p.SharedQueueRate < 0, p.DuplicateQoS0Every < 0, p.UnackedExpiry < 0, p.UnackedResend < 0, p.SubscribeDelay < 0,
		p.SessionExpiry < 0, p.WebSocketLifetime < 0, p.ConnectionLifetime < 0:
		return errors.New("broker: a Profile limit is negative; 0 means no limit")
	case p.MaxKeepalive != 0 && p.MinKeepalive > p.MaxKeepalive:
		return bad("MinKeepalive", fmt.Sprintf("%d is above MaxKeepalive %d", p.MinKeepalive, p.MaxKeepalive))
	case p.MaxUnackedOutbound > 65535:
		return bad("MaxUnackedOutbound", "is above 65535, the most packet ids there are")
	}
	return errors.Join(
		oneOf("OverSubscriptions", p.OverSubscriptions, Close, SubackFailure),
		oneOf("SubscribeQoS2", p.SubscribeQoS2, Close, Hang, Grant),
		oneOf("UnauthorizedSubscribe", p.UnauthorizedSubscribe, Close, SubackFailure),
		oneOf("PublishRateExceeded", p.PublishRateExceeded, Discard, Close),
		oneOf("EarlyPackets", p.EarlyPackets, Close, Accept),
	)
}

// scaled returns an AWS duration on the profile's clock.
func (p *Profile) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) * p.TimeScale)
}

// setCapabilities sets mochi's capabilities as AWS IoT Core's: QoS 1 at
// most, MQTT 3.1.1 or 5, its MQTT 5 limits, its session expiry, and no
// message expiry of mochi's own (AWS keeps MQTT 3 retained messages).
func (p *Profile) setCapabilities(c *mqtt.Capabilities) {
	c.MaximumQos = 1
	c.MinimumProtocolVersion = 4
	c.ReceiveMaximum = awsReceiveMaximum
	c.TopicAliasMaximum = awsTopicAliasMaximum
	if p.MaxPayload > 0 && p.MaxPayload <= awsiot.MaxPayload {
		c.MaximumPacketSize = awsMaximumPacketSize // the profile checks payloads itself, at MaxPayload
	}
	c.MaximumMessageExpiryInterval = 0
	c.SubIDAvailable = 0
	if p.SessionExpiry > 0 {
		c.MaximumSessionExpiryInterval = uint32(p.SessionExpiry / time.Second)
	}
}
