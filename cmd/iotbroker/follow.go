package main

import (
	"context"
	"errors"

	"github.com/iotmqtt/iotmqtt/broker"
)

// follow calls fn with every event that matches m and was recorded after
// m.After, in order, as they come, until ctx ends (it returns ctx's error)
// or fn fails (fn's error). Events the recorder discarded before follow
// read them are reported to gap instead (from and to: the first and last
// sequence numbers missed).
func follow(ctx context.Context, rec *broker.Recorder, m broker.Match, fn func(broker.Event) error, gap func(from, to uint64) error) error {
	for {
		if d := rec.Discarded(); m.After < d {
			if err := gap(m.After+1, d); err != nil {
				return err
			}
			m.After = d
		}
		evs := rec.Events(m)
		if len(evs) == 0 {
			if _, err := rec.WaitFor(ctx, m); err != nil && !errors.Is(err, broker.ErrEventsDiscarded) {
				return ctx.Err()
			}
			continue
		}
		for _, e := range evs {
			if err := fn(e); err != nil {
				return err
			}
			m.After = e.Seq
		}
	}
}
