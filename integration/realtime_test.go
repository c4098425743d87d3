package integration_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// TestRealtimeSchedule runs the seed's exact settings: back-off 1 s, 32 s,
// 20 s; draining at 2 Hz; 10 s and 5 s timeouts. It takes about 40 s and
// prints the measured schedule. Run it with make test-realtime.
func TestRealtimeSchedule(t *testing.T) {
	if !*realtime {
		t.Skip("real-time run of the seed's settings: go test ./integration -run Realtime -realtime -v (make test-realtime)")
	}
	e := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := e.config("realtime")
	cfg.ConfigureAutoReconnectBackoffTime(1*time.Second, 32*time.Second, 20*time.Second)
	cfg.ConfigureOfflinePublishQueueing(client.QueueInfinite, client.DropNewest)
	cfg.ConfigureDrainingFrequency(2)
	cfg.ConfigureConnectDisconnectTimeout(10 * time.Second)
	cfg.ConfigureMQTTOperationTimeout(5 * time.Second)
	topic := e.topic("realtime")
	seen := e.observe(topic)
	c := e.connect(cfg)
	_, err := c.Subscribe(ctx, e.topic("cmd"), client.QoS1, nil)
	require.NoError(t, err)

	// Cycle 1: an outage. Three attempts are hung up on (waits 1, 2, 4 s);
	// the fourth, after 8 s, connects. Ten publishes made meanwhile drain
	// at 2 Hz.
	cut, mark := cutAndWatch(t, e, c)
	for i := range 10 {
		_, err := c.Publish(ctx, topic, []byte(strconv.Itoa(i)), client.QoS1)
		require.NoError(t, err)
	}
	_, err = e.Events.WaitForN(ctx, 3, broker.Match{Kind: broker.KindAccept, After: mark})
	require.NoError(t, err)
	e.Proxy.SetFault(broker.HangUp, false)
	attempts, err := e.Events.WaitForN(ctx, 4, broker.Match{Kind: broker.KindAccept, After: mark})
	require.NoError(t, err)
	checkSchedule(t, e, "seed outage", cut, attempts, []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second})
	got, err := seen.waitN(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, seq(0, 10), payloadsOf(got))
	s := spacingOf(got)
	t.Logf("drain at 2 Hz: first request %v after the reconnect; mean spacing %v, min %v, worst %v",
		got[0].at.Sub(attempts[3].At).Round(time.Millisecond), s.mean, s.min, s.worst)
	require.InDelta(t, float64(500*time.Millisecond), float64(s.mean), float64(10*time.Millisecond))

	// Cycle 2: the connection stays up past the stable time (20 s), so the
	// next outage starts again at 1 s. (A deliberate pause: the scenario is
	// "a connection that lasts".)
	up := attempts[3].At
	time.Sleep(time.Until(up.Add(20*time.Second + 500*time.Millisecond)))
	cut, mark = cutAndWatch(t, e, c)
	e.Proxy.SetFault(broker.HangUp, false)
	next, err := e.Events.WaitFor(ctx, broker.Match{Kind: broker.KindAccept, After: mark})
	require.NoError(t, err)
	checkSchedule(t, e, "after 20 s stable", cut, []broker.Event{next}, []time.Duration{1 * time.Second})
	testenv.WaitStatus(t, c, client.StatusStable)
	fmt.Println("realtime schedule verified: waits 1, 2, 4, 8 s; drain 2 Hz; reset to 1 s after 20 s stable")
}
