package client

import (
	"io"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// The durability points, exactly, in virtual time: SyncEachRequest has
// fsynced a queued publish when durable returns; SyncBatched has written it
// then and fsyncs it OfflineQueueSyncDelay after the first write since the
// last fsync, not before.
func TestDurabilityPoints(t *testing.T) {
	t.Parallel()
	const delay = 100 * time.Millisecond
	for _, mode := range []QueueSync{SyncEachRequest, SyncBatched} {
		t.Run(mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := Config{OfflineQueueDir: t.TempDir(), OfflineQueueSync: mode, OfflineQueueSyncDelay: delay, MaxPayloadSize: DefaultMaxPayloadSize}
				d, restored, _, err := openDiskQueue(&cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
				require.NoError(t, err)
				defer d.close()
				require.Empty(t, restored)
				queue := func(seq uint64) {
					r := &request{kind: kindPublish, topic: "a/b", qos: QoS1, payload: []byte("reading")}
					pos, err := d.add(r, seq, nil)
					require.NoError(t, err)
					require.NoError(t, d.durable(pos))
				}
				queue(1)
				if mode == SyncEachRequest {
					require.Zero(t, d.log.Unsynced(), "fsynced before the call returns")
					return
				}
				require.Positive(t, d.log.Unsynced(), "written, not yet fsynced")
				time.Sleep(delay / 2)
				queue(2) // joins the pending fsync
				time.Sleep(delay/2 - time.Nanosecond)
				synctest.Wait()
				require.Positive(t, d.log.Unsynced(), "not before the delay")
				time.Sleep(time.Nanosecond)
				synctest.Wait()
				require.Zero(t, d.log.Unsynced(), "both fsynced at the delay after the first")
			})
		})
	}
}
