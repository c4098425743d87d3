package main

import (
	"context"
	"sync"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
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
