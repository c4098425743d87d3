package broker_test

import (
	"io"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// MQTT 3.1.1 has no server DISCONNECT: DisconnectClient closes the
// connection without a packet, as AWS IoT does; an MQTT 5 client is told
// first. Either way the recorded cause says who ended the session.
func TestDisconnectClient(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	ctx := testenv.Context(t)
	for _, tt := range []struct {
		name           string
		version        byte
		wantDisconnect bool
	}{
		{"3.1.1", 4, false},
		{"5", 5, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := "dc-" + tt.name
			c := dialRaw(t, b.TCP(), id, tt.version, 30)
			require.NoError(t, b.DisconnectClient(id))
			pk, err := c.receive()
			if tt.wantDisconnect {
				require.NoError(t, err)
				require.Equal(t, packets.Disconnect, pk.FixedHeader.Type)
				_, err = c.receive()
			}
			require.ErrorIs(t, err, io.EOF, "got packet type %d", pk.FixedHeader.Type)
			d, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: id})
			require.NoError(t, err)
			require.Equal(t, broker.CauseClosedByBroker, d.Cause)
		})
	}
}
