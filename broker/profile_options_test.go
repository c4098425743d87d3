package broker_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
	"github.com/iotmqtt/iotmqtt/internal/wsconn"
)

// subscribeMany subscribes to n filters "m/0"… in SUBSCRIBEs of at most 8,
// failing the test unless each is granted.
func (c *rawClient) subscribeMany(n int) {
	c.t.Helper()
	for start := 0; start < n; start += 8 {
		var fs []string
		for i := start; i < min(start+8, n); i++ {
			fs = append(fs, fmt.Sprintf("m/%d", i))
		}
		ack, err := c.subscribeAll(fs...)
		require.NoError(c.t, err)
		require.Equal(c.t, packets.Suback, ack.FixedHeader.Type)
		for _, code := range ack.ReasonCodes {
			require.Equal(c.t, byte(1), code)
		}
	}
}

// The 51st subscription on a connection closes it (AWS's documented
// answer, the default) or, with OverSubscriptions SubackFailure, gets
// SUBACK 0x80 while the first 50 keep working. To be confirmed against AWS.
func TestProfileFiftySubscriptions(t *testing.T) {
	t.Parallel()
	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		b := broker.NewTLS(t, broker.WithPlainTCP())
		c := dialRaw(t, b.TCP(), "subs-close", 4, 60)
		c.subscribeMany(50)
		_, _ = c.subscribeAll("m/50")
		require.NoError(t, c.closed())
	})
	t.Run("SubackFailure", func(t *testing.T) {
		t.Parallel()
		p := broker.AWSIoTCore()
		p.OverSubscriptions = broker.SubackFailure
		b := broker.NewTLS(t, broker.WithPlainTCP(), broker.WithProfile(p))
		c := dialRaw(t, b.TCP(), "subs-fail", 4, 60)
		c.subscribeMany(50)
		ack, err := c.subscribeAll("m/50", "m/0") // one more, and one it has
		require.NoError(t, err)
		require.Equal(t, []byte{0x80, 1}, ack.ReasonCodes)
		require.NoError(t, b.Publish(testenv.Context(t), "m/49", []byte("still"), 0, false))
		require.Equal(t, "m/49", c.nextPublish().TopicName)
	})
}

// A SUBSCRIBE at QoS 2 closes the link (default), is left unanswered
// (Hang) or is granted QoS 1 (Grant, mochi's answer). To be confirmed.
func TestProfileSubscribeQoS2(t *testing.T) {
	t.Parallel()
	qos2 := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 7,
		Filters: packets.Subscriptions{{Filter: "s", Qos: 2}}}
	for _, tc := range []struct {
		reaction broker.Reaction
		check    func(t *testing.T, c *rawClient)
	}{
		{broker.Close, func(t *testing.T, c *rawClient) { require.NoError(t, c.closed()) }},
		{broker.Hang, func(t *testing.T, c *rawClient) {
			c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
			pk, err := c.receive()
			require.NoError(t, err)
			require.Equal(t, packets.Pingresp, pk.FixedHeader.Type, "no SUBACK, and the link still answers")
		}},
		{broker.Grant, func(t *testing.T, c *rawClient) {
			pk, err := c.receive()
			require.NoError(t, err)
			require.Equal(t, []byte{1}, pk.ReasonCodes)
		}},
	} {
		t.Run(tc.reaction.String(), func(t *testing.T) {
			t.Parallel()
			p := broker.AWSIoTCore()
			p.SubscribeQoS2 = tc.reaction
			b := broker.NewTLS(t, broker.WithPlainTCP(), broker.WithProfile(p))
			c := dialRaw(t, b.TCP(), "qos2-sub", 4, 60)
			c.send(qos2)
			tc.check(t, c)
		})
	}
}

// A Policy decides as an AWS IoT policy: a denied CONNECT or PUBLISH
// closes the link (AUTH_ERROR; MQTT 5 CONNECT: CONNACK 0x87), a denied
// SUBSCRIBE closes it too (or, with UnauthorizedSubscribe SubackFailure,
// gets 0x80), a denied receive is silently not delivered.
func TestProfilePolicy(t *testing.T) {
	t.Parallel()
	p := broker.AWSIoTCore()
	p.UnauthorizedSubscribe = broker.SubackFailure
	p.Policy = func(clientID string, a broker.Action, resource string) bool {
		switch a {
		case broker.ActionConnect:
			return clientID != "banned"
		case broker.ActionPublish:
			return !strings.HasPrefix(resource, "secret/")
		case broker.ActionSubscribe:
			return resource != "admin/#"
		default: // receive
			return resource != "private/x"
		}
	}
	b := broker.NewTLS(t, broker.WithPlainTCP(), broker.WithProfile(p))
	ctx := testenv.Context(t)

	_, err := openRaw(t, b.TCP(), 4).connect("banned", 60)
	require.Error(t, err, "v3: closed without CONNACK")
	ack, err := openRaw(t, b.TCP(), 5).connect("banned", 60)
	require.NoError(t, err)
	require.Equal(t, packets.ErrNotAuthorized.Code, ack.ReasonCode)

	c := dialRaw(t, b.TCP(), "policed", 4, 60)
	sub, err := c.subscribeAll("admin/#", "private/+")
	require.NoError(t, err)
	require.Equal(t, []byte{0x80, 1}, sub.ReasonCodes)
	require.NoError(t, b.Publish(ctx, "private/x", []byte("denied"), 0, false))
	require.NoError(t, b.Publish(ctx, "private/y", []byte("allowed"), 0, false))
	require.Equal(t, "private/y", c.nextPublish().TopicName, "the receive the policy denies is not delivered")
	require.Equal(t, 1, b.Events.Count(broker.Match{Kind: broker.KindDropped, ClientID: "policed", Topic: "private/x"}))

	c.publish("secret/plans", []byte("x"), 0, false)
	require.NoError(t, c.closed())
	d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "policed"})
	require.NoError(t, err)
	require.Equal(t, broker.ReasonAuthError, d.Reason)
}

// MQTT 5 clients get AWS's CONNACK properties, and AWS's DISCONNECT reason
// codes where it documents them.
func TestProfileMQTT5(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	ack, err := openRaw(t, b.TCP(), 5).connect("v5-props", 5)
	require.NoError(t, err)
	pr := ack.Properties
	require.Equal(t, uint16(100), pr.ReceiveMaximum)
	require.Equal(t, byte(1), pr.MaximumQos)
	require.Equal(t, uint16(8), pr.TopicAliasMaximum)
	require.Equal(t, uint32(149504), pr.MaximumPacketSize)
	require.Equal(t, byte(1), pr.RetainAvailable)
	require.Equal(t, byte(1), pr.WildcardSubAvailable)
	require.True(t, pr.SubIDAvailableFlag)
	require.Equal(t, byte(0), pr.SubIDAvailable)
	require.Equal(t, byte(1), pr.SharedSubAvailable)
	require.Equal(t, uint16(30), pr.ServerKeepAlive, "keepalive 5 s is clamped to 30 s")

	for _, tc := range []struct {
		name string
		send func(c *rawClient)
		code byte
	}{
		{"QoS 2 publish", func(c *rawClient) { c.publish("q", []byte("x"), 2, false) }, packets.ErrQosNotSupported.Code},
		{"subscription identifier", func(c *rawClient) {
			c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
				Filters: packets.Subscriptions{{Filter: "s", Qos: 1, Identifier: 3}}, Properties: packets.Properties{SubscriptionIdentifier: []int{3}}})
		}, packets.ErrSubscriptionIdentifiersNotSupported.Code},
		{"topic alias above 8", func(c *rawClient) {
			c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "t", Payload: []byte("x"),
				Properties: packets.Properties{TopicAlias: 9, TopicAliasFlag: true}})
		}, packets.ErrTopicAliasInvalid.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, b.TCP(), clientIDFor(tc.name), 5, 60)
			tc.send(c)
			pk, err := c.receive()
			require.NoError(t, err)
			require.Equal(t, packets.Disconnect, pk.FixedHeader.Type)
			require.Equal(t, tc.code, pk.ReasonCode)
			require.NoError(t, c.closed())
		})
	}
}

// An MQTT 5 client silent past its keepalive gets DISCONNECT 0x8D before
// the close (AWS's "Keep Alive timeout"), exactly 45 s after its CONNACK
// (keepalive 5 s, clamped to 30 s).
func TestProfileMQTT5KeepaliveTimeout(t *testing.T) {
	t.Parallel()
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		c := dialRaw(t, b.TCP(), "v5-quiet", 5, 5)
		connack := b.Events.Events(broker.Match{Kind: broker.KindConnack, ClientID: "v5-quiet"})[0]
		d, err := b.Events.WaitFor(testenv.ContextFor(t, time.Minute), broker.Match{Kind: broker.KindDisconnect, ClientID: "v5-quiet"})
		require.NoError(t, err)
		require.Equal(t, 45*time.Second, d.At.Sub(connack.At))
		pk, err := c.receive() // written before the close
		require.NoError(t, err)
		require.Equal(t, packets.Disconnect, pk.FixedHeader.Type)
		require.Equal(t, packets.ErrKeepAliveTimeout.Code, pk.ReasonCode)
	})
}

// AWS IoT Core refuses TLS connections without SNI; the profile records
// the refusal, and with RequireSNI off records the CONNECT's empty server
// name.
func TestProfileRequiresSNI(t *testing.T) {
	t.Parallel()
	noSNI := func(b *broker.Broker) *tls.Config {
		cfg := b.ClientTLSConfig()
		cfg.ServerName = ""           // dialled by IP address: Go sends no SNI
		cfg.InsecureSkipVerify = true // this test is about SNI, not verification
		return cfg
	}
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		b := broker.NewTLS(t)
		_, err := tls.Dial("tcp", b.MTLS().Addr, noSNI(b))
		require.Error(t, err)
		f, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindTLSFailure})
		require.NoError(t, err)
		require.Contains(t, f.Cause, "no server name (SNI)")
	})
	t.Run("recorded", func(t *testing.T) {
		t.Parallel()
		p := broker.AWSIoTCore()
		p.RequireSNI = false
		b := broker.NewTLS(t, broker.WithProfile(p))
		require.NoError(t, testenv.WaitToken(newPaho(t, b.MTLS().Addr, noSNI(b), "no-sni").Connect()))
		c, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindConnect, ClientID: "no-sni"})
		require.NoError(t, err)
		require.Empty(t, c.ServerName)
	})
}

// A WebSocket connection ends at its lifetime (AWS: 24 h) as
// WEBSOCKET_TTL_EXPIRATION; here a lifetime of 300 ms on real sockets.
func TestProfileWebSocketLifetime(t *testing.T) {
	t.Parallel()
	p := broker.AWSIoTCore()
	p.WebSocketLifetime = 300 * time.Millisecond
	b := broker.NewTLS(t, broker.WithWebSocket(testCreds), broker.WithProfile(p))
	presence, err := b.Subscribe(broker.TopicConnected + "ws-aging")
	require.NoError(t, err)
	ws, _, err := wsDial(t, b, presign(t, wsHost(b), "AKIDEXAMPLE", testCreds["AKIDEXAMPLE"], "iotdevicegateway", time.Now()))
	require.NoError(t, err)
	conn := wsconn.New(ws)
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn), version: 4}
	_, err = c.connect("ws-aging", 60)
	require.NoError(t, err)
	_, err = c.receive()
	require.Error(t, err, "the broker closes the WebSocket")
	ctx := testenv.Context(t)
	d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "ws-aging"})
	require.NoError(t, err)
	require.Equal(t, broker.ReasonWebSocketTTL, d.Reason)
	connack, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnack, ClientID: "ws-aging"})
	require.NoError(t, err)
	require.InDelta(t, 300*time.Millisecond, d.At.Sub(connack.At), float64(200*time.Millisecond), "a loaded machine may be late")
	m, err := presence.Next(ctx)
	require.NoError(t, err)
	var e broker.PresenceEvent
	require.NoError(t, json.Unmarshal(m.Payload, &e))
	require.Equal(t, "AKIDEXAMPLE", e.PrincipalIdentifier, "over SigV4 the principal is the access key id")
}

// With SubscribeDelay, a new subscription gets nothing published within
// the delay after its SUBACK (DROPPED), and everything after it.
func TestProfileSubscribeDelay(t *testing.T) {
	t.Parallel()
	p := broker.AWSIoTCore()
	p.SubscribeDelay = 500 * time.Millisecond
	inBubble(t, func(t *testing.T, b *broker.Broker) {
		ctx := testenv.Context(t)
		sub := dialRaw(t, b.TCP(), "new-sub", 4, 1200)
		sub.subscribe("d", 1)
		suback, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindSuback, ClientID: "new-sub"})
		require.NoError(t, err)
		time.Sleep(time.Until(suback.At.Add(499 * time.Millisecond)))
		require.NoError(t, b.Publish(ctx, "d", []byte("early"), 1, false))
		time.Sleep(time.Millisecond)
		require.NoError(t, b.Publish(ctx, "d", []byte("on time"), 1, false))
		synctest.Wait()
		delivered := b.Events.Events(broker.Match{Kind: broker.KindDeliver, ClientID: "new-sub"})
		require.Len(t, delivered, 1)
		require.Equal(t, "on time", string(delivered[0].Payload))
		dropped := b.Events.Events(broker.Match{Kind: broker.KindDropped, ClientID: "new-sub"})
		require.Len(t, dropped, 1)
		require.Contains(t, dropped[0].Cause, "SubscribeDelay")
	}, broker.WithProfile(p))
}

// With RedeliverAsNew, a resumed session's stored messages come without
// the DUP flag; by default with it.
func TestProfileRedeliverAsNew(t *testing.T) {
	t.Parallel()
	for _, asNew := range []bool{false, true} {
		p := broker.AWSIoTCore()
		p.RedeliverAsNew = asNew
		inBubble(t, func(t *testing.T, b *broker.Broker) {
			ctx := testenv.Context(t)
			sub := dialRaw(t, b.TCP(), "redeliver", 4, 1200, persistent)
			sub.subscribe("r", 1)
			require.NoError(t, b.Publish(ctx, "r", []byte("m"), 1, false))
			first := sub.nextPublish()
			require.False(t, first.FixedHeader.Dup)
			sub.conn.Close() // unacknowledged
			synctest.Wait()
			time.Sleep(time.Second)
			again := openRaw(t, b.TCP(), 4)
			_, err := again.connect("redeliver", 1200, persistent)
			require.NoError(t, err)
			resent := again.nextPublish()
			require.Equal(t, "m", string(resent.Payload))
			require.Equal(t, !asNew, resent.FixedHeader.Dup, "RedeliverAsNew %v", asNew)
		}, broker.WithProfile(p))
	}
}

// A client that sends a SUBSCRIBE right behind its CONNECT, before the
// CONNACK came, gets its CONNACK and then the link closes with nothing
// processed (default: AWS requires waiting for the CONNACK); with
// EarlyPackets Accept, the SUBSCRIBE is answered, as mochi does. To be
// confirmed against AWS.
func TestProfileEarlyPackets(t *testing.T) {
	t.Parallel()
	subscribe := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "early", Qos: 1}}}
	pipelined := func(t *testing.T, b *broker.Broker, id string) *rawClient {
		c := openRaw(t, b.TCP(), 4)
		c.sendTogether(connectPacket(id, 60), subscribe)
		ack, err := c.receive()
		require.NoError(t, err)
		require.Equal(t, packets.Connack, ack.FixedHeader.Type)
		return c
	}
	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		b := broker.NewTLS(t, broker.WithPlainTCP())
		c := pipelined(t, b, "early-close")
		require.NoError(t, c.closed(), "nothing but the CONNACK")
		d, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDisconnect, ClientID: "early-close"})
		require.NoError(t, err)
		require.Equal(t, broker.ReasonClientError, d.Reason)
		require.Contains(t, d.Cause, "before the CONNACK")
		require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindSuback, ClientID: "early-close"}))

		waits := dialRaw(t, b.TCP(), "waits", 4, 60)
		waits.subscribe("early", 1) // a client that waited is not affected
	})
	t.Run("Accept", func(t *testing.T) {
		t.Parallel()
		p := broker.AWSIoTCore()
		p.EarlyPackets = broker.Accept
		b := broker.NewTLS(t, broker.WithPlainTCP(), broker.WithProfile(p))
		c := pipelined(t, b, "early-accept")
		ack, err := c.receive()
		require.NoError(t, err)
		require.Equal(t, packets.Suback, ack.FixedHeader.Type)
	})
}

// With DuplicateQoS0Every 3, every third QoS 0 delivery to a client comes
// twice, as AWS warns QoS 0 may; QoS 1 ones never do.
func TestProfileDuplicatesQoS0(t *testing.T) {
	t.Parallel()
	p := broker.AWSIoTCore()
	p.DuplicateQoS0Every = 3
	b := broker.NewTLS(t, broker.WithPlainTCP(), broker.WithProfile(p))
	ctx := testenv.Context(t)
	sub := dialRaw(t, b.TCP(), "dup-qos0", 4, 60)
	sub.subscribe("d", 1)
	for i := range 6 {
		require.NoError(t, b.Publish(ctx, "d", []byte{byte('0' + i)}, 0, false))
	}
	require.NoError(t, b.Publish(ctx, "d", []byte("qos1"), 1, false))
	var got []string
	for range 9 {
		got = append(got, string(sub.nextPublish().Payload))
	}
	require.Equal(t, []string{"0", "1", "2", "2", "3", "4", "5", "5", "qos1"}, got)
}

// With UnackedResend 20 s, a QoS 1 delivery a connected MQTT 3.1.1 client
// leaves unacknowledged is resent every 20 s, with DUP and its packet id,
// and the link stays up; an MQTT 5 client is not resent to (MQTT 5 allows
// resends only on reconnect); by default (AWS's cadence is not
// documented) nothing is resent while connected. To be confirmed against
// AWS.
func TestProfileResendsUnackedWhileConnected(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		resend  time.Duration
		version byte
		sends   int
	}{{"every 20s", 20 * time.Second, 4, 4}, {"MQTT 5", 20 * time.Second, 5, 1}, {"default", 0, 4, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := broker.AWSIoTCore()
			p.UnackedResend = tc.resend
			inBubble(t, func(t *testing.T, b *broker.Broker) {
				ctx := testenv.ContextFor(t, time.Hour)
				sub := dialRaw(t, b.TCP(), "no-ack", tc.version, 1200)
				sub.subscribe("r", 1)
				require.NoError(t, b.Publish(ctx, "r", []byte("again"), 1, false))
				time.Sleep(65 * time.Second)
				synctest.Wait()
				got := b.Events.Events(broker.Match{Kind: broker.KindDeliver, ClientID: "no-ack"})
				require.Len(t, got, tc.sends, "sent, and resent, in 65 s")
				require.False(t, got[0].Dup)
				if tc.sends == 1 {
					return
				}
				since := got[1].At.Sub(got[0].At)
				require.True(t, since >= 20*time.Second && since <= 21*time.Second, "first resend %v after the delivery (checked each second)", since)
				for i, ev := range got[1:] {
					require.True(t, ev.Dup)
					require.Equal(t, got[0].PacketID, ev.PacketID)
					if i > 0 {
						require.Equal(t, 20*time.Second, ev.At.Sub(got[i].At))
					}
				}
				require.Zero(t, b.Events.Count(broker.Match{Kind: broker.KindDisconnect, ClientID: "no-ack"}))
			}, broker.WithProfile(p))
		})
	}
}
