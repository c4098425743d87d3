package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotmqtt/iotmqtt/broker"
)

// A test sets a device's desired state as an application would, and the
// device, subscribed to its shadow's delta topic, receives the difference.
func ExampleBroker_UpdateShadow() {
	b, err := broker.StartTLS()
	if err != nil {
		panic(err)
	}
	defer b.Close()

	deltas := make(chan []byte, 1)
	device := paho.NewClient(paho.NewClientOptions().
		AddBroker("tls://" + b.MTLS().Addr).
		SetTLSConfig(b.ClientTLSConfig()).
		SetClientID("Bot").
		SetProtocolVersion(4))
	device.Connect().Wait()
	defer device.Disconnect(0)
	device.Subscribe("$aws/things/Bot/shadow/update/delta", 1, func(_ paho.Client, m paho.Message) { deltas <- m.Payload() }).Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := b.UpdateShadow(ctx, "Bot", "", []byte(`{"state":{"desired":{"property":42}}}`)); err != nil {
		panic(err)
	}
	var delta struct {
		State   map[string]any `json:"state"`
		Version int            `json:"version"`
	}
	if err := json.Unmarshal(<-deltas, &delta); err != nil {
		panic(err)
	}
	fmt.Println("delta:", delta.State, "version:", delta.Version)

	_, err = b.Shadow("Bot", "missing")
	fmt.Println(err)
	// Output:
	// delta: map[property:42] version: 1
	// broker: get shadow Bot~missing: 404 No shadow exists with name: 'Bot~missing'
}
