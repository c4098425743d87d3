package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// offlineQueue queues n publishes (a fresh 100-byte payload each, as an
// application builds them) while offline and reports the enqueue rate and
// the heap each costs beyond its payload.
func offlineQueue(e endpoint, n int) ([]row, error) {
	t, err := e.open("queue", true)
	if err != nil {
		return nil, err
	}
	defer t.close()
	cfg := t.config("queue")
	cfg.ConfigureAutoReconnectBackoffTime(time.Hour, 2*time.Hour, 3*time.Hour)
	c, err := testenv.StartClient(cfg)
	if err != nil {
		return nil, err
	}
	if err := goOffline(t, c); err != nil {
		return nil, err
	}
	defer testenv.StopClient(c) // offline: returns at once, without draining
	const size = 100
	topic := t.topics + "/queued"
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range n {
		if _, err := c.PublishAsync(topic, make([]byte, size), client.QoS1, nil); err != nil {
			return nil, err
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	if q := c.QueuedRequests(); q != n {
		return nil, fmt.Errorf("queued %d of %d", q, n)
	}
	overhead := float64(after.HeapAlloc-before.HeapAlloc)/float64(n) - size
	sec := fmt.Sprintf("Offline queue: %s publishes of 100 B queued", si(float64(n)))
	return []row{
		{section: sec, name: "enqueue rate", value: si(rate(n, elapsed)) + " msg/s"},
		{section: sec, name: "memory per queued message beyond topic and payload", value: fmt.Sprintf("%.0f B", overhead), target: "< 200 B", pass: ptr(overhead < 200)},
	}, nil
}
