package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/samples"
)

// faultDemo cuts the client's link on the embedded broker and keeps new
// connections failing for a while, so the timeline shows the client going
// offline, queueing, backing off, reconnecting and draining.
type faultDemo struct {
	b      *broker.Broker
	log    *timeline
	outage time.Duration
	wg     sync.WaitGroup
}

// start begins one outage in the background.
func (d *faultDemo) start(ctx context.Context) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.log.say("*** fault: the link is cut; new connections are hung up on for %v ***", d.outage)
		d.b.SetFault(broker.HangUp, true)
		d.b.CutLinks(broker.FIN)
		samples.Sleep(ctx, d.outage)
		d.b.SetFault(broker.HangUp, false)
		d.log.say("*** fault over: the broker accepts connections again ***")
	}()
}

// wait waits for the outage in progress, if any.
func (d *faultDemo) wait() { d.wg.Wait() }

// restartAttempts bounds the first connection of a restarted client: AWS
// refuses a client id's CONNECT within a second of its last one.
const restartAttempts = 5

// restart shows a reboot that loses nothing: during an outage (every
// other one), with
// publishes queued, the program closes its client; once the broker is
// back, a new client opens the same queue directory, restores what was
// queued and drains it, in order.
func (s *sample) restart(ctx context.Context, cfg client.Config, d *faultDemo) error {
	d.log.say("*** restart: the program closes its client with %d publishes queued in %s ***", s.c.QueuedRequests(), cfg.OfflineQueueDir)
	if err := s.c.Close(); err != nil {
		return err
	}
	d.wait()
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	s.c = c
	s.restored += c.QueuedRequests()
	d.log.say("*** restarted: a new client on the same directory restored %d publishes; they drain before its new subscription ***", c.QueuedRequests())
	wait := max(s.o.Interval, time.Second/2)
	for attempt := 1; ; attempt++ {
		err = c.Connect(ctx)
		if err == nil || attempt == restartAttempts || ctx.Err() != nil {
			break
		}
		d.log.say("connect after the restart: %v; again in %v (AWS refuses a client id's CONNECT within 1 s of its last)", err, wait)
		samples.Sleep(ctx, wait)
	}
	if err != nil || !s.o.subscribes() {
		return err
	}
	_, err = c.Subscribe(ctx, s.o.topic, client.QoS1, s.customCallback)
	return err
}

// verify waits until c has drained what it holds, then checks at the
// broker that every one of the n publishes arrived, and says so.
func (d *faultDemo) verify(ctx context.Context, c *client.Client, clientID, topic string, n int) error {
	if err := c.Flush(ctx); err != nil {
		return err
	}
	seen := map[int]int{}
	for _, e := range d.b.Events.Events(broker.Match{Kind: broker.KindPublish, ClientID: clientID, Topic: topic}) {
		var m struct{ Sequence int }
		if json.Unmarshal(e.Payload, &m) == nil {
			seen[m.Sequence]++
		}
	}
	var missing []int
	duplicates := 0
	for i := range n {
		if seen[i] == 0 {
			missing = append(missing, i)
		}
		duplicates += max(seen[i]-1, 0)
	}
	if len(missing) > 0 {
		return fmt.Errorf("the broker never received sequence(s) %v", missing)
	}
	d.log.say("*** the broker received all %d publishes (%d sent twice after a lost acknowledgement): none lost across the cuts and restarts ***", n, duplicates)
	return nil
}
