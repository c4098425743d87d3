package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/samples"
)

// run is the sample: parse the flags, start the embedded broker if no
// endpoint is given, connect, subscribe, publish in a loop, and disconnect
// cleanly when ctx ends (Ctrl-C) or after --count messages.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := newTimeline(stderr, time.Now(), slog.LevelInfo)

	var b *broker.Broker
	var dial client.DialFunc
	if o.Endpoint == "" {
		if b, dial, err = samples.StartEmbedded(ctx, o.clientID, o.Websocket, log.say); err != nil {
			return err
		}
		defer b.Close()
	}

	// Init AWSIoTMQTTClient; its timings scale with --interval (1 s: the
	// seed's exact settings).
	cfg := client.DefaultConfig(o.clientID)
	o.Configure(&cfg, b, dial) // endpoint and credentials: -e, -r, -c, -k, -p, -w, or the embedded broker's
	// AWSIoTMQTTClient connection configuration
	cfg.ConfigureAutoReconnectBackoffTime(1*o.Interval, 32*o.Interval, 20*o.Interval)
	cfg.ConfigureOfflinePublishQueueing(client.QueueInfinite, client.DropNewest)   // Infinite offline Publish queueing
	cfg.ConfigureDrainingFrequency(2 * float64(time.Second) / float64(o.Interval)) // Draining: 2 Hz
	cfg.ConfigureConnectDisconnectTimeout(10 * o.Interval)                         // 10 sec
	cfg.ConfigureMQTTOperationTimeout(5 * o.Interval)                              // 5 sec
	cfg.Logger = slog.New(log)
	// The offline queue in a directory survives a restart (--queue-dir);
	// the fault demo restarts the client, so it needs one.
	cfg.OfflineQueueDir = o.queueDir
	if o.faults && o.queueDir == "" {
		if cfg.OfflineQueueDir, err = os.MkdirTemp("", "basicpubsub-queue-"); err != nil {
			return err
		}
		defer os.RemoveAll(cfg.OfflineQueueDir)
	}
	myAWSIoTMQTTClient, err := client.New(cfg)
	if err != nil {
		return err
	}

	// Connect and subscribe to AWS IoT
	if err := myAWSIoTMQTTClient.Connect(ctx); err != nil {
		_ = myAWSIoTMQTTClient.Close() // releases --queue-dir
		return err
	}
	s := &sample{o: o, c: myAWSIoTMQTTClient, log: log, stdout: stdout, received: make(chan struct{}, 1)}
	defer s.disconnect()
	if o.subscribes() {
		if _, err := myAWSIoTMQTTClient.Subscribe(ctx, o.topic, client.QoS1, s.customCallback); err != nil {
			return err
		}
	}
	if !samples.Sleep(ctx, 2*o.Interval) {
		return nil
	}
	if !o.publishes() {
		return s.waitReceived(ctx, o.Count, 0)
	}
	var demo *faultDemo
	if o.faults {
		demo = &faultDemo{b: b, log: log, outage: 5 * o.Interval / 2}
		defer demo.wait()
	}

	// Publish to the same topic in a loop
	for loopCount := 0; o.Count == 0 || loopCount < o.Count; loopCount++ {
		if demo != nil && loopCount%10 == 3 {
			demo.start(ctx)
		}
		messageJSON := encodeMessage(o.message, loopCount)
		out, err := myAWSIoTMQTTClient.Publish(ctx, o.topic, messageJSON, client.QoS1)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		case out != client.Sent:
			log.say("%s, client %s: %s (%d waiting)", out, myAWSIoTMQTTClient.Status(), messageJSON, myAWSIoTMQTTClient.QueuedRequests())
		case o.mode == "publish":
			fmt.Fprintf(stdout, "Published topic %s: %s\n\n", o.topic, messageJSON)
		}
		if demo != nil && loopCount%20 == 15 { // in every other outage
			if err := s.restart(ctx, cfg, demo); err != nil {
				return err
			}
			myAWSIoTMQTTClient = s.c
		}
		if !samples.Sleep(ctx, o.Interval) {
			return nil
		}
	}
	if demo != nil {
		if err := demo.verify(ctx, s.c, o.clientID, o.topic, o.Count); err != nil {
			return err
		}
	}
	if o.subscribes() {
		// What a restarted client drained before its new subscription does
		// not come back to it (the broker counted it, verify).
		return s.waitReceived(ctx, o.Count-s.restored, 30*o.Interval+10*time.Second)
	}
	return nil
}

// sample holds what the running sample shares with its callback.
type sample struct {
	o      *options
	c      *client.Client
	log    *timeline
	stdout io.Writer

	mu       sync.Mutex // guards n, stdout writes
	n        int
	received chan struct{} // signalled on each message
	restored int           // publishes the fault demo's restarts restored
}

// customCallback prints what the Python sample's customCallback prints.
func (s *sample) customCallback(message client.Message) {
	s.mu.Lock()
	fmt.Fprintf(s.stdout, "Received a new message: \n%s\nfrom topic: \n%s\n--------------\n\n\n", message.Payload, message.Topic)
	s.n++
	s.mu.Unlock()
	select {
	case s.received <- struct{}{}:
	default:
	}
}

// waitReceived returns once n messages have arrived (n = 0: until ctx
// ends), or fails after timeout (0: none).
func (s *sample) waitReceived(ctx context.Context, n int, timeout time.Duration) error {
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	for {
		s.mu.Lock()
		got := s.n
		s.mu.Unlock()
		if n > 0 && got >= n {
			return nil
		}
		select {
		case <-s.received:
		case <-ctx.Done():
			return nil
		case <-deadline:
			return fmt.Errorf("received %d of %d messages in %v", got, n, timeout)
		}
	}
}

// disconnect ends the session cleanly, even after Ctrl-C, and releases
// the offline queue's directory (Close).
func (s *sample) disconnect() {
	if err := s.c.Close(); err != nil {
		s.log.say("disconnect: %v", err)
	}
}

// encodeMessage renders the payload as Python's json.dumps does:
// {"message": "Hello World!", "sequence": 0}.
func encodeMessage(message string, sequence int) []byte {
	var quoted bytes.Buffer
	enc := json.NewEncoder(&quoted)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(message) // a string always encodes
	return fmt.Appendf(nil, `{"message": %s, "sequence": %d}`, bytes.TrimSpace(quoted.Bytes()), sequence)
}
