package client_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
)

// With OfflineQueueDir, what is queued while offline survives the program:
// a client closed with publishes queued leaves them in the directory, and
// the next client on it (after a reboot, say) restores them and drains
// them in order.
func ExampleConfig_offlineQueueDir() {
	profile := broker.AWSIoTCore()
	profile.ConnectInterval = 0 // the "rebooted" device reconnects at once
	b, err := broker.StartTLS(broker.WithProfile(profile))
	if err != nil {
		panic(err)
	}
	defer b.Close()
	dir, err := os.MkdirTemp("", "queue-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	files := b.ClientFiles()
	cfg := client.DefaultConfig("gateway")
	cfg.ConfigureEndpoint(b.MTLS().Host, b.MTLS().Port)
	cfg.ConfigureCredentials(files.RootCA, files.PrivateKey, files.Cert)
	cfg.ConfigureAutoReconnectBackoffTime(10*time.Millisecond, 100*time.Millisecond, time.Second)
	cfg.OfflineQueueDir = dir                 // the queue survives the process
	cfg.OfflineQueueSync = client.SyncBatched // on disk at once, fsynced within 100 ms
	ctx := context.Background()

	first, err := client.New(cfg)
	if err != nil {
		panic(err)
	}
	if err := first.Connect(ctx); err != nil {
		panic(err)
	}
	b.SetFault(broker.Refuse, true) // the cellular link goes down
	b.CutLinks(broker.FIN)
	if err := first.WaitStatus(ctx, client.StatusConnecting); err != nil {
		panic(err)
	}
	for _, reading := range []string{"21.5", "21.7", "22.0"} {
		out, _ := first.Publish(ctx, "gateway/temperature", []byte(reading), client.QoS1)
		fmt.Println(reading, out)
	}
	if err := first.Close(); err != nil { // the program ends
		panic(err)
	}

	b.SetFault(broker.Refuse, false) // after the reboot, the link is back
	mark := b.Events.Seq()
	second, err := client.New(cfg)
	if err != nil {
		panic(err)
	}
	defer second.Close()
	fmt.Println("restored:", second.QueuedRequests())
	if err := second.Connect(ctx); err != nil {
		panic(err)
	}
	if err := second.Flush(ctx); err != nil {
		panic(err)
	}
	arrived, err := b.Events.WaitForN(ctx, 3, broker.Match{Kind: broker.KindPublish, Topic: "gateway/temperature", After: mark})
	if err != nil {
		panic(err)
	}
	for _, e := range arrived {
		fmt.Println("the broker got", string(e.Payload))
	}
	// Output:
	// 21.5 queued
	// 21.7 queued
	// 22.0 queued
	// restored: 3
	// the broker got 21.5
	// the broker got 21.7
	// the broker got 22.0
}
