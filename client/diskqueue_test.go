package client_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

var syncModes = []client.QueueSync{client.SyncEachRequest, client.SyncBatched}

// queueDirConfig is deviceConfig with the offline queue in dir, its log
// going to logs.
func queueDirConfig(b *broker.Broker, clientID, dir string, mode client.QueueSync, logs *testenv.Buffer) client.Config {
	cfg := deviceConfig(b, clientID)
	cfg.OfflineQueueDir = dir
	cfg.OfflineQueueSync = mode
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	return cfg
}

// offlineOnDisk starts a virtual broker (admitting a restarted client's
// reconnect at once) and a client on it with its queue in dir, configured
// further by configure (if not nil), connected and then taken offline: how
// every restart test begins. Call it inside a synctest bubble.
func offlineOnDisk(t *testing.T, clientID, dir string, mode client.QueueSync, configure func(*client.Config)) (*broker.Broker, client.Config, *client.Client, *testenv.Buffer) {
	t.Helper()
	b := virtualBroker(t, testenv.QuickReconnects())
	logs := &testenv.Buffer{}
	cfg := queueDirConfig(b, clientID, dir, mode, logs)
	if configure != nil {
		configure(&cfg)
	}
	c := testenv.Connect(t, cfg)
	goOffline(t, b, c)
	return b, cfg, c, logs
}

// arrivals waits for n publishes from clientID at the broker, after mark,
// and returns their payloads.
func arrivals(t *testing.T, b *broker.Broker, clientID string, mark uint64, n int) []string {
	t.Helper()
	evs, err := b.Events.WaitForN(testenv.Context(t), n, broker.Match{Kind: broker.KindPublish, ClientID: clientID, After: mark})
	require.NoError(t, err)
	return payloads(evs)
}

func numbers(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

// Publishes queued while offline survive the client: closed with them
// queued, a new client on the same directory restores them (and says so),
// and drains them in order once connected; what the broker acknowledged
// leaves the directory.
func TestQueueDirSurvivesARestart(t *testing.T) {
	t.Parallel()
	for _, mode := range syncModes {
		t.Run(mode.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := testenv.Context(t)
				b, cfg, first, logs := offlineOnDisk(t, "restart", t.TempDir(), mode, func(c *client.Config) {
					c.ConfigureDrainingFrequency(20) // 50 ms
				})
				for i := range 10 {
					out, err := first.Publish(ctx, "restart/t", []byte(strconv.Itoa(i)), client.QoS(i%2))
					require.NoError(t, err)
					require.Equal(t, client.Queued, out)
				}
				require.NoError(t, first.Close())

				second := testenv.NewClient(t, cfg)
				require.Equal(t, 10, second.QueuedRequests(), "restored before Connect")
				require.Contains(t, logs.String(), "offline queue opened")
				require.Contains(t, logs.String(), "restored=10")
				mark := b.Events.Seq()
				require.NoError(t, b.SetFault(broker.Refuse, false))
				require.NoError(t, second.Connect(ctx))
				drained, err := b.Events.WaitForN(ctx, 10, broker.Match{Kind: broker.KindPublish, ClientID: "restart", After: mark})
				require.NoError(t, err)
				require.Equal(t, numbers(0, 10), payloads(drained), "in order")
				for i := 1; i < len(drained); i++ {
					require.Equal(t, 50*time.Millisecond, drained[i].At.Sub(drained[i-1].At), "gap %d: exactly 1/20 Hz", i)
				}
				testenv.WaitStatus(t, second, client.StatusStable)
				out, err := second.Publish(ctx, "restart/t", []byte("end"), client.QoS1)
				require.NoError(t, err)
				require.Equal(t, client.Sent, out)
				require.Equal(t, append(numbers(0, 10), "end"), arrivals(t, b, "restart", mark, 11), "none extra")
				require.NoError(t, second.Close())

				third := testenv.NewClient(t, cfg)
				require.Zero(t, third.QueuedRequests(), "what the broker took left the directory")
			})
		})
	}
}

// A bounded queue on disk keeps the in-memory queue's outcomes, callbacks
// and contents, and a restart restores exactly what it kept.
func TestQueueDirKeepsTheDropBehaviour(t *testing.T) {
	t.Parallel()
	tests := []struct {
		drop     client.DropBehavior
		outcomes []client.Outcome
		errs     []error // the calls' errors
		acks     []error // the ack callbacks', of the accepted ones
		kept     []string
	}{
		{
			drop:     client.DropNewest,
			outcomes: []client.Outcome{client.Queued, client.Queued, client.Queued, client.NotAccepted, client.NotAccepted},
			errs:     []error{nil, nil, nil, client.ErrQueueFull, client.ErrQueueFull},
			kept:     numbers(0, 3),
		},
		{
			drop:     client.DropOldest,
			outcomes: []client.Outcome{client.Queued, client.Queued, client.Queued, client.QueuedDroppedOldest, client.QueuedDroppedOldest},
			errs:     []error{nil, nil, nil, nil, nil},
			acks:     []error{client.ErrDropped, client.ErrDropped},
			kept:     numbers(2, 5),
		},
	}
	for _, tt := range tests {
		for _, mode := range syncModes {
			t.Run(fmt.Sprintf("%s, sync %s", tt.drop, mode), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					b, cfg, c, _ := offlineOnDisk(t, "bounded", t.TempDir(), mode, func(c *client.Config) {
						c.ConfigureOfflinePublishQueueing(3, tt.drop)
					})
					acks := make(chan error, 5)
					var outcomes []client.Outcome
					var errs []error
					for i := range 5 {
						out, err := c.PublishAsync("bounded/t", []byte(strconv.Itoa(i)), client.QoS1, func(err error) { acks <- err })
						outcomes = append(outcomes, out)
						errs = append(errs, err)
					}
					require.Equal(t, tt.outcomes, outcomes)
					for i, err := range errs {
						require.ErrorIs(t, err, tt.errs[i])
					}
					synctest.Wait() // the dispatcher has run the callbacks due
					require.Len(t, acks, len(tt.acks))
					for _, want := range tt.acks {
						require.ErrorIs(t, <-acks, want)
					}
					require.NoError(t, c.Close())

					again := testenv.NewClient(t, cfg)
					require.Equal(t, 3, again.QueuedRequests())
					mark := b.Events.Seq()
					require.NoError(t, b.SetFault(broker.Refuse, false))
					require.NoError(t, again.Connect(testenv.Context(t)))
					require.Equal(t, tt.kept, arrivals(t, b, "bounded", mark, 3))
				})
			})
		}
	}
}

// A publish that went straight out goes on disk when its connection is
// lost before the PUBACK: nothing leaves the queue, and so the directory,
// until the broker has acknowledged it.
func TestUnacknowledgedPublishIsKeptOnDisk(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := virtualBroker(t, testenv.QuickReconnects()) // the restarted client reconnects at once
		var logs testenv.Buffer
		cfg := queueDirConfig(b, "unacked", t.TempDir(), client.SyncEachRequest, &logs)
		c := testenv.Connect(t, cfg)
		testenv.WaitStatus(t, c, client.StatusStable)
		require.NoError(t, b.SetFault(broker.WithholdPuback, true))
		out, err := c.PublishAsync("unacked/t", []byte("in flight"), client.QoS1, nil)
		require.NoError(t, err)
		require.Equal(t, client.InFlight, out)
		_, err = b.Events.WaitFor(testenv.Context(t), broker.Match{Kind: broker.KindPublish, ClientID: "unacked"})
		require.NoError(t, err)
		goOffline(t, b, c)
		require.NoError(t, c.Close())

		again := testenv.NewClient(t, cfg)
		require.Equal(t, 1, again.QueuedRequests())
		require.NoError(t, b.SetFault(broker.WithholdPuback, false))
		require.NoError(t, b.SetFault(broker.Refuse, false))
		mark := b.Events.Seq()
		require.NoError(t, again.Connect(testenv.Context(t)))
		require.Equal(t, []string{"in flight"}, arrivals(t, b, "unacked", mark, 1))
	})
}

// Subscribe and unsubscribe requests queue in memory only: a restarted
// program subscribes again with its callbacks.
func TestSubscriptionsAreNotStored(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := testenv.Context(t)
		_, cfg, c, _ := offlineOnDisk(t, "subs", t.TempDir(), client.SyncEachRequest, nil)
		for _, call := range []func() (client.Outcome, error){
			func() (client.Outcome, error) { return c.Subscribe(ctx, "subs/a", client.QoS1, nil) },
			func() (client.Outcome, error) { return c.Publish(ctx, "subs/t", []byte("kept"), client.QoS1) },
			func() (client.Outcome, error) { return c.Unsubscribe(ctx, "subs/b") },
		} {
			out, err := call()
			require.NoError(t, err)
			require.Equal(t, client.Queued, out)
		}
		require.Equal(t, 3, c.QueuedRequests())
		require.NoError(t, c.Close())
		again := testenv.NewClient(t, cfg)
		require.Equal(t, 1, again.QueuedRequests(), "the publish only")
	})
}

// A full disk is an error on the call, and loses nothing already queued:
// the refused publish is not queued, DropOldest drops nothing for it, and
// a restart restores exactly what was accepted.
func TestFullDiskIsAnErrorOnTheCall(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{client.QueueInfinite, 10} {
		for _, mode := range syncModes {
			t.Run(fmt.Sprintf("limit %d, sync %s", limit, mode), func(t *testing.T) {
				dir := testenv.SmallFileSystem(t, 64<<10)
				synctest.Test(t, func(t *testing.T) {
					ctx := testenv.Context(t)
					b, cfg, c, _ := offlineOnDisk(t, "full", dir, mode, func(c *client.Config) {
						c.ConfigureOfflinePublishQueueing(limit, client.DropOldest)
					})
					payload := make([]byte, 1000)
					var accepted []string
					var err error
					var out client.Outcome
					for i := range 1000 {
						copy(payload, strconv.Itoa(i)+" ")
						if out, err = c.Publish(ctx, "full/t", payload, client.QoS1); err != nil {
							break
						}
						accepted = append(accepted, strconv.Itoa(i))
					}
					require.Equal(t, client.NotAccepted, out)
					require.ErrorIs(t, err, client.ErrQueueStorage)
					require.ErrorIs(t, err, syscall.ENOSPC)
					require.ErrorContains(t, err, dir)
					want := accepted
					if limit > 0 {
						want = accepted[len(accepted)-limit:]
					}
					require.Equal(t, len(want), c.QueuedRequests(), "nothing queued was lost to the failed call")
					require.NoError(t, c.Close())

					again := testenv.NewClient(t, cfg)
					require.Equal(t, len(want), again.QueuedRequests())
					mark := b.Events.Seq()
					require.NoError(t, b.SetFault(broker.Refuse, false))
					require.NoError(t, again.Connect(ctx))
					got := arrivals(t, b, "full", mark, len(want))
					for i, p := range got {
						got[i] = p[:len(want[i])]
					}
					require.Equal(t, want, got)
				})
			})
		}
	}
}

// A record torn by a power loss mid-write is skipped with a log line; the
// records before it are restored.
func TestTornTailIsSkipped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := testenv.Context(t)
		dir := t.TempDir()
		b, cfg, c, logs := offlineOnDisk(t, "torn", dir, client.SyncEachRequest, nil)
		for i := range 5 {
			_, err := c.Publish(ctx, "torn/t", []byte(strconv.Itoa(i)), client.QoS1)
			require.NoError(t, err)
		}
		require.NoError(t, c.Close())
		segments, err := filepath.Glob(filepath.Join(dir, "segment-*.log"))
		require.NoError(t, err)
		require.Len(t, segments, 1)
		st, err := os.Stat(segments[0])
		require.NoError(t, err)
		require.NoError(t, os.Truncate(segments[0], st.Size()-3))

		again := testenv.NewClient(t, cfg)
		require.Equal(t, 4, again.QueuedRequests())
		require.Contains(t, logs.String(), "offline queue: damaged record skipped; the records before it are kept")
		require.Contains(t, logs.String(), "reason=\"truncated or corrupt record")
		mark := b.Events.Seq()
		require.NoError(t, b.SetFault(broker.Refuse, false))
		require.NoError(t, again.Connect(ctx))
		require.Equal(t, numbers(0, 4), arrivals(t, b, "torn", mark, 4))
	})
}

// One client at a time per directory, in this process or another (the
// restart test covers another process); Close releases it.
func TestQueueDirInUse(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	var logs testenv.Buffer
	cfg := queueDirConfig(b, "inuse", t.TempDir(), client.SyncEachRequest, &logs)
	first := testenv.NewClient(t, cfg)
	_, err := client.New(cfg)
	require.ErrorIs(t, err, client.ErrQueueDirInUse)
	require.ErrorContains(t, err, cfg.OfflineQueueDir)
	require.ErrorContains(t, err, "this process (another client) has it open")
	require.NoError(t, first.Close())
	second, err := client.New(cfg)
	require.NoError(t, err)
	require.NoError(t, second.Close())
}

func TestClosedClientRefusesEverything(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	var logs testenv.Buffer
	c := testenv.Connect(t, queueDirConfig(b, "closed", t.TempDir(), client.SyncBatched, &logs))
	require.NoError(t, c.Close())
	require.Equal(t, client.StatusIdle, c.Status())
	_, err := c.Publish(testenv.Context(t), "closed/t", nil, client.QoS1)
	require.ErrorIs(t, err, client.ErrClosed)
	_, err = c.PublishAsync("closed/t", nil, client.QoS1, nil)
	require.ErrorIs(t, err, client.ErrClosed)
	require.ErrorIs(t, c.Connect(testenv.Context(t)), client.ErrClosed)
	require.NoError(t, c.Close(), "closing again does nothing")
}

func TestQueueDirConfigErrors(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	notADir := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(notADir, nil, 0o600))
	tests := []struct {
		name   string
		modify func(*client.Config)
		field  string
		want   string
	}{
		{"disabled queue", func(c *client.Config) {
			c.OfflineQueueDir = t.TempDir()
			c.ConfigureOfflinePublishQueueing(client.QueueDisabled, client.DropNewest)
		}, "OfflineQueueDir", "offline queueing is disabled"},
		{"sync without a directory", func(c *client.Config) { c.OfflineQueueSync = client.SyncBatched }, "OfflineQueueSync", "OfflineQueueDir is empty"},
		{"delay without a directory", func(c *client.Config) { c.OfflineQueueSyncDelay = 1 }, "OfflineQueueSync", "OfflineQueueDir is empty"},
		{"unknown sync", func(c *client.Config) { c.OfflineQueueDir, c.OfflineQueueSync = t.TempDir(), 7 }, "OfflineQueueSync", "SyncEachRequest or SyncBatched"},
		{"negative delay", func(c *client.Config) { c.OfflineQueueDir, c.OfflineQueueSyncDelay = t.TempDir(), -1 }, "OfflineQueueSyncDelay", "must be positive"},
		{"not a directory", func(c *client.Config) { c.OfflineQueueDir = filepath.Join(notADir, "queue") }, "OfflineQueueDir", "cannot be used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := deviceConfig(b, "cfg")
			tt.modify(&cfg)
			_, err := client.New(cfg)
			var ce *client.ConfigError
			require.True(t, errors.As(err, &ce), "%v", err)
			require.Equal(t, tt.field, ce.Field)
			require.ErrorIs(t, err, client.ErrInvalidConfig)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// A restarted client with a smaller limit than the queue it finds applies
// its drop behaviour to what it restores, as if queueing it again in order,
// says so, and deletes what it dropped from the directory.
func TestRestoredQueueOverTheLimitIsTrimmed(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		drop client.DropBehavior
		kept []string
	}{
		{client.DropNewest, numbers(0, 3)},
		{client.DropOldest, numbers(2, 5)},
	} {
		t.Run(tt.drop.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := testenv.Context(t)
				b, cfg, first, logs := offlineOnDisk(t, "trim", t.TempDir(), client.SyncEachRequest, nil)
				for i := range 5 {
					_, err := first.Publish(ctx, "trim/t", []byte(strconv.Itoa(i)), client.QoS1)
					require.NoError(t, err)
				}
				require.NoError(t, first.Close())

				bounded := cfg
				bounded.ConfigureOfflinePublishQueueing(3, tt.drop)
				second := testenv.NewClient(t, bounded)
				require.Equal(t, 3, second.QueuedRequests())
				require.Contains(t, logs.String(), "more publishes restored than OfflineQueueLimit")
				require.Contains(t, logs.String(), "restored=5 dropped=2 limit=3 drop="+tt.drop.String())
				require.NoError(t, second.Close())

				third := testenv.NewClient(t, cfg)
				require.Equal(t, 3, third.QueuedRequests(), "the dropped ones left the directory")
				mark := b.Events.Seq()
				require.NoError(t, b.SetFault(broker.Refuse, false))
				require.NoError(t, third.Connect(ctx))
				require.Equal(t, tt.kept, arrivals(t, b, "trim", mark, 3))
			})
		})
	}
}

// A stored publish the restarted client's settings refuse (here a topic
// AWS IoT Core would close the connection for, stored under PlainMQTT) is
// dropped with a log line naming it, not sent; the rest is restored.
func TestStoredPublishTheSettingsRefuseIsDropped(t *testing.T) {
	t.Parallel()
	b := newBroker(t)
	ctx := testenv.Context(t)
	var logs testenv.Buffer
	cfg := queueDirConfig(b, "refused", t.TempDir(), client.SyncEachRequest, &logs)
	plain := cfg
	plain.PlainMQTT = true
	first := testenv.Connect(t, plain)
	goOffline(t, b, first)
	deep := "a/b/c/d/e/f/g/h/i" // 8 slashes: AWS allows 7
	for _, topic := range []string{"refused/ok", deep} {
		out, err := first.Publish(ctx, topic, []byte("x"), client.QoS1)
		require.NoError(t, err)
		require.Equal(t, client.Queued, out)
	}
	require.NoError(t, first.Close())

	again := testenv.NewClient(t, cfg)
	require.Equal(t, 1, again.QueuedRequests())
	require.Contains(t, logs.String(), "offline queue: a stored request cannot be sent; dropped")
	require.Contains(t, logs.String(), deep)
	require.NoError(t, again.Close())
	require.Equal(t, 1, testenv.NewClient(t, cfg).QueuedRequests(), "its record was deleted")
}
