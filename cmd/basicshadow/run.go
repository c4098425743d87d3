package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/client/shadow"
	"github.com/iotmqtt/iotmqtt/internal/samples"
)

// run is the sample: parse the flags, start the embedded broker if no
// endpoint is given, run the listener and the updater as the mode says,
// and disconnect cleanly when ctx ends (Ctrl-C) or after --count updates
// (or, listening only, deltas).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	s := &sample{o: o, out: newPrinter(stdout), log: slog.New(slog.NewTextHandler(stderr, nil))}
	if o.Count > 0 {
		s.answers, s.deltas = make(chan struct{}, o.Count+1), make(chan struct{}, o.Count)
	}
	if o.Endpoint == "" {
		if s.b, s.dial, err = samples.StartEmbedded(ctx, o.thingName, o.Websocket, s.say); err != nil {
			return err
		}
		defer s.b.Close()
	}
	defer s.stop() // before the broker closes
	updaterID, listenerID := o.clientIDs()

	if o.listens() {
		listener, err := s.connect(ctx, listenerID)
		if err != nil {
			return err
		}
		// Listen on deltas
		if err := listener.RegisterDeltaCallback(ctx, s.customShadowCallbackDelta); err != nil {
			return err
		}
	}
	if !o.updates() {
		if s.b != nil {
			s.say("no updater: the embedded broker's data plane sets desired.property every %v, as an application would", o.Interval)
			s.loop(ctx, s.setDesired)
		}
		return s.await(ctx, s.deltas, o.Count, "deltas")
	}

	deviceShadowHandler, err := s.connect(ctx, updaterID)
	if err != nil {
		return err
	}
	// Delete shadow JSON doc
	if _, err := deviceShadowHandler.DeleteAsync(s.customShadowCallbackDelete, 5*o.Interval); err != nil {
		return err
	}
	// Update shadow in a loop
	s.loop(ctx, func(loopCount int) {
		JSONPayload := fmt.Appendf(nil, `{"state":{"desired":{"property":%d}}}`, loopCount)
		if _, err := deviceShadowHandler.UpdateAsync(JSONPayload, s.customShadowCallbackUpdate, 5*o.Interval); err != nil {
			s.say("update %d not sent: %v", loopCount, err)
		}
	})
	if err := s.await(ctx, s.answers, o.Count+1, "answers to the delete and the updates"); err != nil || !o.listens() {
		return err
	}
	return s.await(ctx, s.deltas, o.Count, "deltas")
}

// sample holds what the running sample shares with its callbacks.
type sample struct {
	o    *options
	out  *printer
	log  *slog.Logger
	b    *broker.Broker // nil against an endpoint
	dial client.DialFunc

	// With --count, signalled by each answer and each delta.
	answers, deltas chan struct{}
	stops           []func()
}

func (s *sample) say(format string, args ...any) { s.log.Info(fmt.Sprintf(format, args...)) }

// connect connects a client as the Python samples configure
// AWSIoTMQTTShadowClient, with timings scaled by --interval (1 s: theirs),
// and returns the thing's shadow handler, with a persistent subscription.
// The client is disconnected when the sample ends.
func (s *sample) connect(ctx context.Context, clientID string) (*shadow.Handler, error) {
	iv := s.o.Interval
	cfg := client.DefaultConfig(clientID)
	s.o.Configure(&cfg, s.b, s.dial)
	// AWSIoTMQTTShadowClient configuration
	cfg.ConfigureAutoReconnectBackoffTime(1*iv, 32*iv, 20*iv)
	cfg.ConfigureConnectDisconnectTimeout(10 * iv) // 10 sec
	cfg.ConfigureMQTTOperationTimeout(5 * iv)      // 5 sec
	// What AWSIoTMQTTShadowClient sets itself: no offline queueing for
	// time-sensitive shadow requests, draining at 10 Hz.
	cfg.ConfigureOfflinePublishQueueing(client.QueueDisabled, client.DropNewest)
	cfg.ConfigureDrainingFrequency(10 * float64(time.Second) / float64(iv))
	cfg.Logger = s.log.With("clientId", clientID)
	c, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		return nil, err
	}
	s.stops = append(s.stops, func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*iv)
		defer cancel()
		if err := c.Disconnect(stopCtx); err != nil {
			s.say("%s: disconnect: %v", clientID, err)
		}
	})
	// Create a deviceShadow with persistent subscription
	return shadow.NewHandler(c, shadow.Config{ThingName: s.o.thingName, PersistentSubscribe: true, Timeout: 5 * iv, Logger: s.log})
}

// stop disconnects the clients, the updater first.
func (s *sample) stop() {
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
}

// loop runs step(0), step(1), … one --interval apart, --count times or
// until ctx ends.
func (s *sample) loop(ctx context.Context, step func(int)) {
	for loopCount := 0; s.o.Count == 0 || loopCount < s.o.Count; loopCount++ {
		step(loopCount)
		if !samples.Sleep(ctx, s.o.Interval) {
			return
		}
	}
}

// setDesired is the application's side on the embedded broker: it sets
// desired.property through the data plane.
func (s *sample) setDesired(n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*s.o.Interval)
	defer cancel()
	if _, err := s.b.UpdateShadow(ctx, s.o.thingName, "", fmt.Appendf(nil, `{"state":{"desired":{"property":%d}}}`, n)); err != nil {
		s.say("data plane: %v", err)
	}
}

// await waits for n arrivals on ch (with --count), bounded by the answer
// timeout, or until ctx ends.
func (s *sample) await(ctx context.Context, ch chan struct{}, n int, what string) error {
	if s.o.Count == 0 {
		<-ctx.Done()
		return nil
	}
	timeout := time.NewTimer(10 * s.o.Interval)
	defer timeout.Stop()
	for got := 0; got < n; got++ {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		case <-timeout.C:
			return fmt.Errorf("%d of %d %s arrived in %v", got, n, what, 10*s.o.Interval)
		}
	}
	return nil
}

// notify notes one arrival on ch (with --count).
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
