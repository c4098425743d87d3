package broker_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// A client is dropped exactly 1.5 × its keepalive after its last packet
// (MQTT-3.1.2-24), and not while it pings within that. Plain MQTT honours
// the keepalive asked for; AWS IoT Core clamps 1–29 s to 30 s and 0 to
// 1200 s. In virtual time, so exact.
func TestKeepaliveDeadline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		opts       []broker.Option
		asked      uint16
		pingEvery  time.Duration // longer than asked where AWS clamps
		wantSilent time.Duration
	}{
		{"plain MQTT keepalive 1 s", []broker.Option{broker.WithPlainMQTT()}, 1, 1200 * time.Millisecond, 1500 * time.Millisecond},
		{"AWS clamps 5 s to 30 s", nil, 5, 40 * time.Second, 45 * time.Second},
		{"AWS clamps 0 to 1200 s", nil, 0, 1300 * time.Second, 1800 * time.Second},
		{"AWS keeps 60 s", nil, 60, 80 * time.Second, 90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				keepaliveDeadline(t, tc.opts, tc.asked, tc.pingEvery, tc.wantSilent)
			})
		})
	}
}

func keepaliveDeadline(t *testing.T, opts []broker.Option, asked uint16, pingEvery, wantSilent time.Duration) {
	b := broker.NewTLS(t, append(opts, broker.WithPlainTCP(), broker.WithMemoryNetwork())...)
	ctx := testenv.ContextFor(t, 2*time.Hour)
	c := dialRaw(t, b.TCP(), "ka", 4, asked)

	tick := time.NewTicker(pingEvery) // the client's schedule
	defer tick.Stop()
	for i := range 2 {
		<-tick.C
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
		pk, err := c.receive()
		require.NoError(t, err, "dropped before PINGREQ %d, with pings %v apart", i+1, pingEvery)
		require.Equal(t, packets.Pingresp, pk.FixedHeader.Type)
	}
	tick.Stop()
	pings := b.Events.Events(broker.Match{Kind: broker.KindPingreq, ClientID: "ka"})
	require.Len(t, pings, 2)

	d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "ka"})
	require.NoError(t, err)
	require.Contains(t, d.Cause, "i/o timeout")
	require.Equal(t, broker.ReasonKeepaliveTimeout, d.Reason)
	require.Equal(t, wantSilent, d.At.Sub(pings[1].At), "dropped exactly 1.5 × keepalive after its last packet")
}
