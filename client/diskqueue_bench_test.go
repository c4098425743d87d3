package client_test

import (
	"testing"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// BenchmarkOfflineEnqueue: publishes of 100 B queued while offline, in
// memory and in a directory in both durability modes (make bench's report
// adds bytes on disk and the drain rate).
func BenchmarkOfflineEnqueue(b *testing.B) {
	br := broker.NewTLS(b, testenv.Unthrottled())
	for _, k := range []struct {
		name string
		dir  bool
		mode client.QueueSync
	}{
		{"memory", false, 0},
		{"dir, batched", true, client.SyncBatched},
		{"dir, each request", true, client.SyncEachRequest},
	} {
		b.Run(k.name, func(b *testing.B) {
			cfg := deviceConfig(br, "bench-enqueue")
			if k.dir {
				cfg.OfflineQueueDir, cfg.OfflineQueueSync = b.TempDir(), k.mode
			}
			c, err := testenv.StartClient(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer testenv.StopClient(c)
			if err := br.SetFault(broker.Refuse, true); err != nil {
				b.Fatal(err)
			}
			defer br.SetFault(broker.Refuse, false)
			br.CutLinks(broker.FIN)
			if err := testenv.AwaitStatus(c, client.StatusConnecting); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := c.PublishAsync("bench/queued", payload100, client.QoS1, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
