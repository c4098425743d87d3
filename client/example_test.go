package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
)

// The basicPubSub sample's configuration, line for line, against the
// embedded broker standing in for AWS IoT Core.
func Example_basicPubSub() {
	b, err := broker.StartTLS()
	if err != nil {
		panic(err)
	}
	defer b.Close()
	host, port, files := b.MTLS().Host, b.MTLS().Port, b.ClientFiles()
	rootCAPath, privateKeyPath, certificatePath := files.RootCA, files.PrivateKey, files.Cert
	clientID, topic := "basicPubSub", "sdk/test/Python"

	// Init AWSIoTMQTTClient
	cfg := client.DefaultConfig(clientID)
	cfg.ConfigureEndpoint(host, port)
	cfg.ConfigureCredentials(rootCAPath, privateKeyPath, certificatePath)

	// AWSIoTMQTTClient connection configuration
	cfg.ConfigureAutoReconnectBackoffTime(1*time.Second, 32*time.Second, 20*time.Second)
	cfg.ConfigureOfflinePublishQueueing(client.QueueInfinite, client.DropNewest) // Infinite offline Publish queueing
	cfg.ConfigureDrainingFrequency(2)                                            // Draining: 2 Hz
	cfg.ConfigureConnectDisconnectTimeout(10 * time.Second)                      // 10 sec
	cfg.ConfigureMQTTOperationTimeout(5 * time.Second)                           // 5 sec
	myAWSIoTMQTTClient, err := client.New(cfg)
	if err != nil {
		panic(err)
	}

	// Connect and subscribe to AWS IoT
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := myAWSIoTMQTTClient.Connect(ctx); err != nil {
		panic(err)
	}
	received := make(chan struct{})
	customCallback := func(message client.Message) {
		fmt.Println("Received a new message:")
		fmt.Println(string(message.Payload))
		fmt.Println("from topic:", message.Topic)
		received <- struct{}{}
	}
	if _, err := myAWSIoTMQTTClient.Subscribe(ctx, topic, client.QoS1, customCallback); err != nil {
		panic(err)
	}

	// Publish to the same topic in a loop (here twice, not forever)
	for loopCount := 0; loopCount < 2; loopCount++ {
		messageJSON, _ := json.Marshal(struct {
			Message  string `json:"message"`
			Sequence int    `json:"sequence"`
		}{"Hello World!", loopCount})
		if _, err := myAWSIoTMQTTClient.Publish(ctx, topic, messageJSON, client.QoS1); err != nil {
			panic(err)
		}
		select {
		case <-received:
		case <-ctx.Done():
			panic("no message in 10 s")
		}
	}
	if err := myAWSIoTMQTTClient.Disconnect(ctx); err != nil {
		panic(err)
	}
	// Output:
	// Received a new message:
	// {"message":"Hello World!","sequence":0}
	// from topic: sdk/test/Python
	// Received a new message:
	// {"message":"Hello World!","sequence":1}
	// from topic: sdk/test/Python
}

// Requests made while the link is down are queued and drained after the
// reconnect; the outcome says what happened.
func ExampleClient_Publish_offline() {
	b, err := broker.StartTLS()
	if err != nil {
		panic(err)
	}
	defer b.Close()
	cfg := client.DefaultConfig("offline-demo")
	cfg.ConfigureEndpoint(b.MTLS().Host, b.MTLS().Port)
	f := b.ClientFiles()
	cfg.ConfigureCredentials(f.RootCA, f.PrivateKey, f.Cert)
	cfg.ConfigureAutoReconnectBackoffTime(50*time.Millisecond, 400*time.Millisecond, time.Second)
	offline := make(chan struct{}, 1)
	cfg.OnOffline = func(error) { offline <- struct{}{} }
	c, err := client.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		panic(err)
	}
	defer c.Disconnect(ctx)

	b.SetFault(broker.Refuse, true)
	b.CutLinks(broker.FIN)
	select {
	case <-offline:
	case <-ctx.Done():
		panic("still online after 10 s")
	}
	out, err := c.Publish(ctx, "telemetry", []byte("42"), client.QoS1)
	fmt.Println(out, err)

	if err := b.SetFault(broker.Refuse, false); err != nil {
		panic(err)
	}
	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindPublish, Topic: "telemetry"})
	if err != nil {
		panic(err)
	}
	fmt.Println("broker received", string(ev.Payload))
	// Output:
	// queued <nil>
	// broker received 42
}
