package broker_test

import (
	"context"
	"fmt"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/iotmqtt/iotmqtt/broker"
)

// A device connects over mutual TLS; the test asks the broker what it saw
// instead of sleeping.
func Example() {
	b, err := broker.StartTLS()
	if err != nil {
		panic(err)
	}
	defer b.Close()

	c := paho.NewClient(paho.NewClientOptions().
		AddBroker("tls://" + b.MTLS().Addr).
		SetTLSConfig(b.ClientTLSConfig()).
		SetClientID("thing-1").
		SetProtocolVersion(4))
	c.Connect().Wait()
	defer c.Disconnect(0)
	c.Publish("sdk/test/go", 1, false, "hello").Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, ClientID: "thing-1"})
	if err != nil {
		panic(err)
	}
	fmt.Println(ev.Topic, string(ev.Payload), "QoS", ev.QoS)
	// Output: sdk/test/go hello QoS 1
}

// Cut every link and watch the client notice.
func ExampleBroker_CutLinks() {
	b, err := broker.StartTLS()
	if err != nil {
		panic(err)
	}
	defer b.Close()

	lost := make(chan error, 1)
	c := paho.NewClient(paho.NewClientOptions().
		AddBroker("tls://" + b.MTLS().Addr).
		SetTLSConfig(b.ClientTLSConfig()).
		SetProtocolVersion(4).
		SetAutoReconnect(false).
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
	c.Connect().Wait()

	fmt.Println("links cut:", b.CutLinks(broker.FIN))
	fmt.Println("client saw:", <-lost)
	// Output:
	// links cut: 1
	// client saw: EOF
}

// Try the alternative answer of a "to be confirmed" row, set from text as
// a command line (iotbroker --set) gives it.
func ExampleProfile_Set() {
	p := broker.AWSIoTCore()
	if err := p.Set("SubscribeQoS2", "Grant"); err != nil {
		panic(err)
	}
	fmt.Println(p.SubscribeQoS2)
	fmt.Println(p.Set("UnackedResend", "often"))
	b, err := broker.StartTLS(broker.WithProfile(p))
	if err != nil {
		panic(err)
	}
	defer b.Close()
	// Output:
	// Grant
	// broker: Profile.UnackedResend="often": a duration such as 500ms, 30s or 1h
}
