package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// minBatchedEnqueueRate is the target for SyncBatched: publishes of 100 B
// queued per second.
const minBatchedEnqueueRate = 100_000

// queueKind is one queue the persistent-queue rows compare.
type queueKind struct {
	name string
	dir  bool
	mode client.QueueSync
	n    int
}

// persistentQueue queues publishes of 100 B offline in memory and in a
// directory (Config.OfflineQueueDir) in both durability modes, and reports
// each one's enqueue rate, bytes on disk per message, and the rate at which
// the queue drains once the link is back (draining frequency unbounded in
// practice: 1 MHz).
func persistentQueue(e endpoint, batchedN, perRequestN int) ([]row, error) {
	const sec = "Persistent offline queue (OfflineQueueDir): publishes of 100 B queued offline, then drained"
	var rows []row
	for _, k := range []queueKind{
		{name: "in memory", n: batchedN},
		{name: "SyncBatched", dir: true, mode: client.SyncBatched, n: batchedN},
		{name: "SyncEachRequest", dir: true, mode: client.SyncEachRequest, n: perRequestN},
	} {
		m, err := measureQueue(e, k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.name, err)
		}
		name := fmt.Sprintf("%s, %s publishes", k.name, si(float64(k.n)))
		r := row{section: sec, name: name + ": enqueue rate", value: si(m.enqueue) + " msg/s"}
		if k.dir && k.mode == client.SyncBatched {
			r.target, r.pass = fmt.Sprintf("≥ %s msg/s", si(minBatchedEnqueueRate)), ptr(m.enqueue >= minBatchedEnqueueRate)
		}
		rows = append(rows, r)
		if k.dir {
			rows = append(rows, row{section: sec, name: name + ": bytes on disk per message", value: fmt.Sprintf("%.1f B", m.perMessage)})
		}
		rows = append(rows, row{section: sec, name: name + ": drain rate", value: si(m.drain) + " msg/s"})
	}
	return rows, nil
}

// queueMeasure is what measureQueue found.
type queueMeasure struct {
	enqueue, perMessage, drain float64
}

func measureQueue(e endpoint, k queueKind) (queueMeasure, error) {
	var m queueMeasure
	t, err := e.open("pqueue", true)
	if err != nil {
		return m, err
	}
	defer t.close()
	cfg := t.config("pqueue")
	cfg.ConfigureDrainingFrequency(1e6)
	if k.dir {
		dir, err := os.MkdirTemp("", "iotmqtt-queue-")
		if err != nil {
			return m, err
		}
		defer os.RemoveAll(dir)
		cfg.OfflineQueueDir, cfg.OfflineQueueSync = dir, k.mode
	}
	var online atomic.Int64 // when the link came back, in UnixNano
	cfg.OnOnline = func() { online.Store(time.Now().UnixNano()) }
	c, err := testenv.StartClient(cfg)
	if err != nil {
		return m, err
	}
	defer testenv.StopClient(c)
	if err := goOffline(t, c); err != nil {
		return m, err
	}
	payload := make([]byte, 100)
	topic := t.topics + "/queued"
	start := time.Now()
	for range k.n {
		if _, err := c.PublishAsync(topic, payload, client.QoS1, nil); err != nil {
			return m, err
		}
	}
	m.enqueue = rate(k.n, time.Since(start))
	if q := c.QueuedRequests(); q != k.n {
		return m, fmt.Errorf("queued %d of %d", q, k.n)
	}
	if k.dir {
		size, err := dirBytes(cfg.OfflineQueueDir)
		if err != nil {
			return m, err
		}
		m.perMessage = float64(size) / float64(k.n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Proxy.SetFault(broker.HangUp, false)
	if err := c.Flush(ctx); err != nil {
		return m, fmt.Errorf("drain: %w", err)
	}
	m.drain = rate(k.n, time.Since(time.Unix(0, online.Load())))
	return m, nil
}

// dirBytes is the size of the files in dir.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	return n, err
}
