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

// A keepalive of 1 s allows 1.5 s of silence (MQTT-3.1.2-24): a client that
// pings every 1.2 s stays connected, and once it falls silent it is dropped
// 1.5 s after its last packet.
func TestKeepaliveOfOneSecondAllowsOneAndAHalf(t *testing.T) {
	t.Parallel()
	synctest.Test(t, keepaliveOfOneSecond)
}

func keepaliveOfOneSecond(t *testing.T) {
	const keepalive, grace = time.Second, 1500 * time.Millisecond
	b := broker.NewTLS(t, broker.WithPlainTCP(), broker.WithMemoryNetwork())
	ctx := testenv.Context(t)
	c := dialRaw(t, b.TCP(), "ka-1", 4, uint16(keepalive/time.Second))

	tick := time.NewTicker(1200 * time.Millisecond) // the client's schedule
	defer tick.Stop()
	for i := range 2 {
		<-tick.C
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
		pk, err := c.receive()
		require.NoError(t, err, "dropped before PINGREQ %d, with pings 1.2 s apart", i+1)
		require.Equal(t, packets.Pingresp, pk.FixedHeader.Type)
	}
	tick.Stop()
	pings := b.Events.Events(broker.Match{Kind: broker.KindPingreq, ClientID: "ka-1"})
	require.Len(t, pings, 2)

	d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: "ka-1"})
	require.NoError(t, err)
	require.Contains(t, d.Cause, "i/o timeout")
	silent := d.At.Sub(pings[1].At)
	t.Logf("dropped %v after its last PINGREQ", silent)
	require.Equal(t, grace, silent, "dropped exactly 1.5 × keepalive after its last packet")
}
