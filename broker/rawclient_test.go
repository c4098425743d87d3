package broker_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// rawClient speaks MQTT over plain TCP with mochi's packet codec, for what
// paho hides or decides for itself: whether the broker wrote a packet
// before closing, exact keepalive timing, never acknowledging a delivery.
type rawClient struct {
	t       *testing.T
	conn    net.Conn
	r       *bufio.Reader
	version byte
}

// dialRaw connects to addr and completes CONNECT/CONNACK with the given
// protocol version (4 is 3.1.1, 5 is MQTT 5) and keepalive in seconds;
// adjust may change the CONNECT.
func dialRaw(t *testing.T, l *broker.Listener, id string, version byte, keepalive uint16, adjust ...func(*packets.Packet)) *rawClient {
	t.Helper()
	c := openRaw(t, l, version)
	ack, err := c.connect(id, keepalive, adjust...)
	require.NoError(t, err)
	require.Equal(t, packets.Connack, ack.FixedHeader.Type)
	require.Zero(t, ack.ReasonCode)
	return c
}

// openRaw opens a connection to l's plain TCP listener, sending nothing.
func openRaw(t *testing.T, l *broker.Listener, version byte) *rawClient {
	t.Helper()
	conn, err := l.Proxy.DialContext(testenv.Context(t), "tcp", l.Addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &rawClient{t: t, conn: conn, r: bufio.NewReader(conn), version: version}
}

// connect sends a CONNECT and returns what came back: a CONNACK, or the
// error (io.EOF: closed without one).
func (c *rawClient) connect(id string, keepalive uint16, adjust ...func(*packets.Packet)) (packets.Packet, error) {
	c.t.Helper()
	c.send(connectPacket(id, keepalive, adjust...))
	return c.receive()
}

// persistent asks for a persistent session (MQTT 3.1.1).
func persistent(pk *packets.Packet) { pk.Connect.Clean = false }

// persistentV5 asks for an MQTT 5 session that outlives the connection by
// an hour.
func persistentV5(pk *packets.Packet) {
	pk.Connect.Clean = false
	pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 3600, true
}

// leaveSession connects id (keepalive 1200 s, CONNECT changed by adjust),
// subscribes it to filter at QoS 1, and disconnects it cleanly, returning
// once the broker has seen it go.
func leaveSession(t *testing.T, b *broker.Broker, id string, version byte, filter string, adjust ...func(*packets.Packet)) {
	t.Helper()
	c := dialRaw(t, b.TCP(), id, version, 1200, adjust...)
	c.subscribe(filter, 1)
	mark := b.Events.Seq()
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}})
	_, err := b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindDisconnect, ClientID: id, After: mark})
	require.NoError(t, err)
}

// connectPacket is a CONNECT with a clean session, changed by adjust.
func connectPacket(id string, keepalive uint16, adjust ...func(*packets.Packet)) packets.Packet {
	connect := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, Connect: packets.ConnectParams{
		ProtocolName: []byte("MQTT"), Clean: true, Keepalive: keepalive, ClientIdentifier: id,
	}}
	for _, a := range adjust {
		a(&connect)
	}
	return connect
}

// publish sends a PUBLISH with packet id 1 (for QoS 1 and 2).
func (c *rawClient) publish(topic string, payload []byte, qos byte, retain bool) {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Retain: retain}, TopicName: topic, Payload: payload}
	if qos > 0 {
		pk.PacketID = 1
	}
	c.send(pk)
}

// subscribeAll sends one SUBSCRIBE with filters at QoS 1 and returns what
// came back, past any deliveries.
func (c *rawClient) subscribeAll(filters ...string) (packets.Packet, error) {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	c.send(pk)
	// A delivery on a filter just granted may come before its SUBACK.
	for range 10 {
		got, err := c.receive()
		if err != nil || got.FixedHeader.Type != packets.Publish {
			return got, err
		}
	}
	c.t.Fatal("no SUBACK in 10 packets")
	return packets.Packet{}, nil
}

// closed says whether the broker closed the connection with nothing more
// written: the next read is EOF (or a reset).
func (c *rawClient) closed() error {
	c.t.Helper()
	pk, err := c.receive()
	if err == nil {
		return fmt.Errorf("got packet type %d before the close", pk.FixedHeader.Type)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	return err
}

// subscribe subscribes to filter at qos and waits for the SUBACK.
func (c *rawClient) subscribe(filter string, qos byte) {
	c.t.Helper()
	c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: filter, Qos: qos}}})
	ack, err := c.receive()
	require.NoError(c.t, err)
	require.Equal(c.t, packets.Suback, ack.FixedHeader.Type)
	require.Equal(c.t, []byte{qos}, ack.ReasonCodes)
}

// send writes pk.
func (c *rawClient) send(pk packets.Packet) { c.t.Helper(); c.sendTogether(pk) }

// sendTogether writes pks in one write, as a client pipelining them does.
func (c *rawClient) sendTogether(pks ...packets.Packet) {
	c.t.Helper()
	var buf bytes.Buffer
	for _, pk := range pks {
		c.encode(&buf, pk)
	}
	_, err := c.conn.Write(buf.Bytes())
	require.NoError(c.t, err)
}

func (c *rawClient) encode(buf *bytes.Buffer, pk packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = c.version
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(buf)
	case packets.Publish:
		err = pk.PublishEncode(buf)
	case packets.Puback:
		err = pk.PubackEncode(buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(buf)
	default:
		c.t.Fatalf("rawClient cannot send packet type %d", pk.FixedHeader.Type)
	}
	require.NoError(c.t, err)
}

// receive reads the next packet, waiting at most testTimeout; io.EOF means
// the broker closed the connection.
func (c *rawClient) receive() (packets.Packet, error) {
	pk := packets.Packet{ProtocolVersion: c.version}
	if err := c.conn.SetReadDeadline(time.Now().Add(testTimeout)); err != nil {
		return pk, err
	}
	b, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(body)
	case packets.Pingresp:
	default:
		err = fmt.Errorf("unexpected packet type %d", pk.FixedHeader.Type)
	}
	return pk, err
}
