package broker_test

import (
	"fmt"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// The recorder's order is the causal order. A packet the broker sends is
// recorded before its bytes leave, so a client that has acted on it always
// finds it recorded (no wait needed), and the client's answer is recorded
// after it; a fault is recorded before it takes effect.
func TestRecordedOrderIsCausal(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	ctx := testenv.Context(t)
	const rounds = 60
	late := map[string]int{}
	recorded := func(m broker.Match) bool { return b.Events.Count(m) == 1 }
	for i := range rounds {
		id, topic := fmt.Sprintf("causal-%d", i), fmt.Sprintf("causal/%d", i)
		mark := b.Events.Seq()
		pc := newPaho(t, b.TCP().Addr, nil, id)
		require.NoError(t, testenv.WaitToken(pc.Connect()))
		if !recorded(broker.Match{Kind: broker.KindConnack, ClientID: id}) {
			late["CONNACK after Connect returned"]++
		}
		delivered := make(chan bool, 1)
		require.NoError(t, testenv.WaitToken(pc.Subscribe(topic, 1, func(paho.Client, paho.Message) {
			delivered <- recorded(broker.Match{Kind: broker.KindDeliver, ClientID: id, Topic: topic})
		})))
		if !recorded(broker.Match{Kind: broker.KindSuback, ClientID: id}) {
			late["SUBACK after Subscribe returned"]++
		}
		require.NoError(t, testenv.WaitToken(pc.Publish(topic, 1, false, "m")))
		if !recorded(broker.Match{Kind: broker.KindPuback, ClientID: id}) {
			late["PUBACK after Publish returned"]++
		}
		select {
		case ok := <-delivered:
			if !ok {
				late["DELIVER after the client received it"]++
			}
		case <-ctx.Done():
			t.Fatal("message not delivered")
		}
		ack, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDeliveryAck, ClientID: id})
		require.NoError(t, err)
		deliver, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDeliver, ClientID: id})
		require.NoError(t, err)
		if ack.Seq < deliver.Seq {
			late["DELIVERY-ACK before its DELIVER"]++
		}

		require.Equal(t, 1, b.CutLinks(broker.FIN))
		gone, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindDisconnect, ClientID: id})
		require.NoError(t, err)
		cut, err := b.Events.WaitFor(ctx, broker.Match{Fault: broker.FaultCut, After: mark})
		require.NoError(t, err)
		if gone.Seq < cut.Seq {
			late["FAULT cut after the DISCONNECT it caused"]++
		}
		waitLost(t, pc)
	}
	require.Empty(t, late, "out of causal order, in %d rounds", rounds)
}
