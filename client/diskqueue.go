package client

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/iotmqtt/iotmqtt/client/internal/queuelog"
)

// QueueSync says when a publish queued in Config.OfflineQueueDir is on
// disk.
type QueueSync int

const (
	// SyncEachRequest (the default): a queued publish is written and
	// fsynced before the call returns Queued, so from then on it survives
	// both the process being killed and a power loss. Each queued publish
	// waits for its fsync (concurrent callers share one), so the queue
	// takes as many publishes per second as the disk does fsyncs.
	SyncEachRequest QueueSync = iota
	// SyncBatched: a queued publish is written to the operating system
	// before the call returns Queued, so it survives the process being
	// killed, and is fsynced together with the others at most
	// OfflineQueueSyncDelay later (plus the fsync's own time); from then
	// on it survives a power loss too.
	SyncBatched
)

// DefaultOfflineQueueSyncDelay is how long SyncBatched lets a queued
// publish wait for its fsync, at most, unless OfflineQueueSyncDelay says
// otherwise.
const DefaultOfflineQueueSyncDelay = 100 * time.Millisecond

// String names the durability mode.
func (q QueueSync) String() string {
	switch q {
	case SyncEachRequest:
		return "each request"
	case SyncBatched:
		return "batched"
	default:
		return fmt.Sprintf("QueueSync(%d)", int(q))
	}
}

// validateOfflineQueueDir checks the fields of the persistent queue.
func (c *Config) validateOfflineQueueDir() error {
	switch {
	case c.OfflineQueueDir == "" && (c.OfflineQueueSync != SyncEachRequest || c.OfflineQueueSyncDelay != 0):
		return invalid("OfflineQueueSync", "is set, but OfflineQueueDir is empty: the queue is in memory only")
	case c.OfflineQueueDir == "":
		return nil
	case c.DisableOfflineQueue:
		return invalid("OfflineQueueDir", "is set, but offline queueing is disabled (DisableOfflineQueue)")
	case c.OfflineQueueSync != SyncEachRequest && c.OfflineQueueSync != SyncBatched:
		return invalid("OfflineQueueSync", "must be SyncEachRequest or SyncBatched")
	case c.OfflineQueueSyncDelay < 0:
		return invalid("OfflineQueueSyncDelay", "must be positive")
	}
	return nil
}

// diskQueue keeps the offline queue's publishes in Config.OfflineQueueDir,
// so that they survive the process: a publish is put on disk when it joins
// the queue (or goes back to it from a lost connection) and deleted when
// it is finished, so nothing leaves the disk before it has left the
// queue. Subscribe and unsubscribe requests stay in memory: after a
// restart the program subscribes again (their callbacks are code, not
// data). Its methods, but durable and close, are called with session.mu
// held (which guards its batch); a nil *diskQueue is the memory-only
// queue, where they do nothing.
type diskQueue struct {
	dir    string
	log    *queuelog.Log
	logger *slog.Logger
	mode   QueueSync
	syncer *batchSyncer // SyncBatched only
	batch  queuelog.Batch
	head   []byte // a record's encoded header, reused
}

// A record is a publish: recordPublish, its QoS, the topic's length
// (uvarint) and the topic, then the payload.
const recordPublish = 1

// openDiskQueue opens the directory and returns the publishes an earlier
// client left there, in order, ready for the outbox, and the largest
// sequence number on disk.
func openDiskQueue(cfg *Config, logger *slog.Logger) (*diskQueue, []*request, uint64, error) {
	dir := cfg.OfflineQueueDir
	log, contents, err := queuelog.Open(dir, queuelog.Options{Damaged: func(d queuelog.Damage) {
		logger.Warn("client: offline queue: damaged record skipped; the records before it are kept",
			"file", d.File, "offset", d.Offset, "bytes", d.Bytes, "reason", d.Reason)
	}})
	switch {
	case errors.Is(err, queuelog.ErrLocked):
		return nil, nil, 0, fmt.Errorf("%w: %s: %w", ErrQueueDirInUse, dir, err)
	case err != nil:
		return nil, nil, 0, &ConfigError{Field: "OfflineQueueDir", Reason: fmt.Sprintf("%q cannot be used: %v", dir, err), Err: err}
	}
	d := &diskQueue{dir: dir, log: log, logger: logger, mode: cfg.OfflineQueueSync}
	var restored []*request
	for _, rec := range contents.Records {
		r, err := decodeRecord(rec, cfg)
		if err != nil {
			logger.Warn("client: offline queue: a stored request cannot be sent; dropped", "id", rec.ID, "error", err)
			d.batch.Delete(rec.ID)
			continue
		}
		restored = append(restored, r)
	}
	restored = d.trimToLimit(restored, cfg.OfflineQueueLimit, cfg.OfflineQueueDrop)
	if d.batch.Len() > 0 {
		if _, err := log.Write(&d.batch); err != nil {
			logger.Warn("client: offline queue: could not delete the requests that cannot be sent", "error", err)
		}
		d.batch.Reset()
	}
	if d.mode == SyncBatched {
		d.syncer = startBatchSyncer(log, cmp.Or(cfg.OfflineQueueSyncDelay, DefaultOfflineQueueSyncDelay), logger)
	}
	logger.Info("client: offline queue opened", "dir", dir, "restored", len(restored), "sync", d.mode)
	return d, restored, contents.MaxID, nil
}

// trimToLimit applies the queue's limit to the restored publishes, as if
// they were queued again in order (an earlier process may have had a
// larger limit): DropNewest keeps the oldest limit of them, DropOldest the
// newest. The records of those dropped join the batch as deletions, and a
// log line says how many went.
func (d *diskQueue) trimToLimit(restored []*request, limit int, drop DropBehavior) []*request {
	if limit <= 0 || len(restored) <= limit {
		return restored
	}
	kept, dropped := restored[:limit], restored[limit:]
	if drop == DropOldest {
		kept, dropped = restored[len(restored)-limit:], restored[:len(restored)-limit]
	}
	for _, r := range dropped {
		d.batch.Delete(r.seq)
	}
	d.logger.Warn("client: offline queue: more publishes restored than OfflineQueueLimit; dropped as the drop behaviour says",
		"restored", len(restored), "dropped", len(dropped), "limit", limit, "drop", drop)
	return kept
}

// decodeRecord makes the queued publish a record holds, checked as a new
// one would be (a record written under other settings may not pass).
func decodeRecord(rec queuelog.Record, cfg *Config) (*request, error) {
	b := rec.Data
	if len(b) < 3 || b[0] != recordPublish {
		return nil, errors.New("not a publish record")
	}
	qos := QoS(b[1])
	n, k := binary.Uvarint(b[2:])
	if k <= 0 || n > uint64(len(b)-2-k) {
		return nil, errors.New("malformed topic")
	}
	topic := string(b[2+k : 2+k+int(n)])
	payload := b[2+k+int(n):]
	if err := cfg.checkTopicName(topic); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrInvalidTopic, topic, err)
	}
	switch {
	case qos > QoS1:
		return nil, fmt.Errorf("%w: got %d", ErrInvalidQoS, qos)
	case len(payload) > cfg.MaxPayloadSize:
		return nil, fmt.Errorf("%w: %d bytes, limit %d (Config.MaxPayloadSize)", ErrPayloadTooLarge, len(payload), cfg.MaxPayloadSize)
	}
	return &request{kind: kindPublish, topic: topic, qos: qos, payload: payload, seq: rec.ID, stored: true}, nil
}

// put adds r's record, under sequence number seq, to the batch.
func (d *diskQueue) put(r *request, seq uint64) {
	d.head = append(d.head[:0], recordPublish, byte(r.qos))
	d.head = binary.AppendUvarint(d.head, uint64(len(r.topic)))
	d.head = append(d.head, r.topic...)
	d.batch.Put(seq, d.head, r.payload)
}

// write writes the batch, all or nothing, and empties it.
func (d *diskQueue) write() (int64, error) {
	defer d.batch.Reset()
	if d.batch.Len() == 0 {
		return 0, nil
	}
	pos, err := d.log.Write(&d.batch)
	if err != nil {
		return 0, fmt.Errorf("%w (%s): %w", ErrQueueStorage, d.dir, err)
	}
	return pos, nil
}

// add puts r, joining the queue with sequence number seq, on disk, and
// deletes the request it replaces (DropOldest), in one write: if it fails,
// neither happened. It returns the position durable waits for.
func (d *diskQueue) add(r *request, seq uint64, dropped *request) (int64, error) {
	if d == nil {
		return 0, nil
	}
	if dropped != nil && dropped.stored {
		d.batch.Delete(dropped.seq)
	}
	if r.kind == kindPublish {
		d.put(r, seq)
	}
	pos, err := d.write()
	if err != nil {
		return 0, err
	}
	r.stored = r.kind == kindPublish
	if dropped != nil && dropped.stored {
		dropped.stored = false
		d.compactIfDue()
	}
	return pos, nil
}

// addBack puts on disk the publishes going back to the queue from a lost
// connection that are not there yet (they went straight out), each under
// its sequence number, so replay puts them in their place.
func (d *diskQueue) addBack(back []*request) (int64, error) {
	if d == nil {
		return 0, nil
	}
	var added []*request
	for _, r := range back {
		if r.kind == kindPublish && !r.stored {
			d.put(r, r.seq)
			added = append(added, r)
		}
	}
	pos, err := d.write()
	if err != nil {
		return 0, err
	}
	for _, r := range added {
		r.stored = true
	}
	return pos, nil
}

// remove deletes a finished request's record, and compacts the directory
// when it is due. A failure is logged: the request
// is finished all the same, and at worst sent again after a restart.
func (d *diskQueue) remove(r *request) {
	if d == nil || !r.stored {
		return
	}
	r.stored = false
	d.batch.Delete(r.seq)
	if _, err := d.write(); err != nil {
		d.logger.Warn("client: offline queue: could not record that a request finished; after a restart it may be sent again", "topic", r.topic, "error", err)
		return
	}
	d.compactIfDue()
}

// compactIfDue compacts the directory when most of it is finished
// requests (queuelog.Log.NeedsCompaction).
func (d *diskQueue) compactIfDue() {
	if !d.log.NeedsCompaction() {
		return
	}
	if err := d.log.Compact(); err != nil {
		d.logger.Warn("client: offline queue: compaction failed", "dir", d.dir, "error", err)
	}
}

// durable returns once what was written up to pos is as durable as the
// mode promises at the call's return: fsynced (SyncEachRequest), or
// written with an fsync due within the delay (SyncBatched). Called
// without session.mu.
func (d *diskQueue) durable(pos int64) error {
	if d == nil || pos == 0 {
		return nil
	}
	if d.syncer != nil {
		d.syncer.kick()
		return nil
	}
	if err := d.log.Sync(pos); err != nil {
		return fmt.Errorf("%w (%s): queued in memory, but not durable on disk: %w", ErrQueueStorage, d.dir, err)
	}
	return nil
}

// close stops the syncer, makes everything durable and releases the
// directory.
func (d *diskQueue) close() error {
	if d == nil {
		return nil
	}
	if d.syncer != nil {
		d.syncer.stop()
	}
	return d.log.Close()
}

// batchSyncer fsyncs the log at most delay after each write (SyncBatched):
// the first write since the last fsync starts the wait.
type batchSyncer struct {
	log     *queuelog.Log
	delay   time.Duration
	logger  *slog.Logger
	wake    chan struct{} // buffered 1
	quit    chan struct{}
	stopped chan struct{}
}

func startBatchSyncer(log *queuelog.Log, delay time.Duration, logger *slog.Logger) *batchSyncer {
	f := &batchSyncer{log: log, delay: delay, logger: logger, wake: make(chan struct{}, 1), quit: make(chan struct{}), stopped: make(chan struct{})}
	go f.run()
	return f
}

func (f *batchSyncer) kick() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *batchSyncer) run() {
	defer close(f.stopped)
	for {
		select {
		case <-f.wake:
		case <-f.quit:
			return
		}
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-f.quit:
			t.Stop()
			return // close syncs
		}
		if err := f.log.Sync(math.MaxInt64); err != nil {
			f.logger.Error("client: offline queue: fsync failed; the queue is rewritten before the next request joins it", "error", err)
		}
	}
}

func (f *batchSyncer) stop() {
	close(f.quit)
	<-f.stopped
}
