package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// goOffline cuts the client's link while new connections are hung up on, and
// waits until the client knows.
func goOffline(t *target, c *client.Client) error {
	t.Proxy.SetFault(broker.HangUp, true)
	t.Proxy.CutLinks(broker.FIN)
	return testenv.AwaitStatus(c, client.StatusConnecting)
}

// drainAccuracy queues n publishes offline, reconnects, and measures the
// spacing of their arrival at the broker against 1/hz.
func drainAccuracy(e endpoint, hz float64, n int) ([]row, error) {
	t, err := e.open(fmt.Sprintf("drain%v", hz), false)
	if err != nil {
		return nil, err
	}
	defer t.close()
	cfg := t.config("drain")
	cfg.ConfigureDrainingFrequency(hz)
	c, err := testenv.StartClient(cfg)
	if err != nil {
		return nil, err
	}
	defer testenv.StopClient(c)
	topic := t.topics + "/drain"
	arrivals, stop, err := observe(e, t, topic)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := goOffline(t, c); err != nil {
		return nil, err
	}
	for i := range n {
		if _, err := c.PublishAsync(topic, []byte(fmt.Sprint(i)), client.QoS1, nil); err != nil {
			return nil, err
		}
	}
	t.Proxy.SetFault(broker.HangUp, false)
	interval := time.Duration(float64(time.Second) / hz)
	at, err := arrivals(n, time.Duration(n+10)*interval+30*time.Second)
	if err != nil {
		return nil, err
	}
	var errs []float64 // ms
	for i := 1; i < len(at); i++ {
		errs = append(errs, float64(at[i].Sub(at[i-1])-interval)/float64(time.Millisecond))
	}
	mean := (float64(at[len(at)-1].Sub(at[0]))/float64(len(at)-1) - float64(interval)) / float64(time.Millisecond)
	abs := make([]float64, len(errs))
	for i, x := range errs {
		abs[i] = math.Abs(x)
	}
	slices.Sort(abs)
	p99, worst := abs[int(0.99*float64(len(abs)-1))], abs[len(abs)-1]
	sec := fmt.Sprintf("Drain accuracy: spacing error over %d queued messages", n)
	name := fmt.Sprintf("%v Hz (interval %v)", hz, interval)
	return []row{
		{section: sec, name: name + " mean", value: fmt.Sprintf("%+.3f ms", mean), target: "|mean| ≤ 0.1 ms", pass: ptr(math.Abs(mean) <= 0.1)},
		{section: sec, name: name + " p99", value: fmt.Sprintf("%.3f ms", p99)},
		{section: sec, name: name + " worst", value: fmt.Sprintf("%.3f ms", worst), target: "≤ 2 ms", pass: ptr(worst <= 2)},
	}, nil
}

// observe returns a function that waits for the first n arrivals of topic
// and returns their times: at the embedded broker (its recorder), or, on an
// external endpoint, at a second client connected without the proxy.
func observe(e endpoint, t *target, topic string) (func(n int, timeout time.Duration) ([]time.Time, error), func(), error) {
	if t.Broker != nil {
		mark := t.Events.Seq()
		return func(n int, timeout time.Duration) ([]time.Time, error) {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			evs, err := t.Events.WaitForN(ctx, n, broker.Match{Kind: broker.KindPublish, Topic: topic, After: mark})
			out := make([]time.Time, len(evs))
			for i, ev := range evs {
				out[i] = ev.At
			}
			return out, err
		}, func() {}, nil
	}
	var mu sync.Mutex
	var at []time.Time
	cfg := t.config("observer")
	cfg.ConfigureSocketFactory(nil) // straight to the endpoint
	c, err := testenv.StartClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.Subscribe(context.Background(), topic, client.QoS1, func(client.Message) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
	}); err != nil {
		return nil, nil, err
	}
	return func(n int, timeout time.Duration) ([]time.Time, error) {
		deadline := time.Now().Add(timeout)
		for {
			mu.Lock()
			got := slices.Clone(at)
			mu.Unlock()
			if len(got) >= n {
				return got[:n], nil
			}
			if time.Now().After(deadline) {
				return got, fmt.Errorf("observer: %d of %d arrivals", len(got), n)
			}
			time.Sleep(time.Millisecond)
		}
	}, func() { testenv.StopClient(c) }, nil
}

// backoffAccuracy measures connection attempts after a cut against a
// 6-step schedule (waits base·2ⁿ), at the proxy.
func backoffAccuracy(e endpoint, base time.Duration) ([]row, error) {
	const steps = 6
	t, err := e.open("backoff", false)
	if err != nil {
		return nil, err
	}
	defer t.close()
	cfg := t.config("backoff")
	cfg.ConfigureAutoReconnectBackoffTime(base, base<<(steps-1), base<<steps)
	c, err := testenv.StartClient(cfg)
	if err != nil {
		return nil, err
	}
	defer testenv.StopClient(c)
	mark := t.Events.Seq()
	t.Proxy.SetFault(broker.HangUp, true)
	cut := time.Now()
	t.Proxy.CutLinks(broker.FIN)
	ctx, cancel := context.WithTimeout(context.Background(), base<<(steps+1)+30*time.Second)
	defer cancel()
	attempts, err := t.Events.WaitForN(ctx, steps, broker.Match{Kind: broker.KindAccept, After: mark})
	t.Proxy.SetFault(broker.HangUp, false)
	if err != nil {
		return nil, err
	}
	sec := fmt.Sprintf("Back-off accuracy: attempt times after a cut (base %v, %d steps)", base, steps)
	var rows []row
	prev, expected := cut, time.Duration(0)
	worstStep, firstErr, lastErr := 0.0, 0.0, 0.0
	for i, a := range attempts {
		wait := base << i
		expected += wait
		stepErr := float64(a.At.Sub(prev)-wait) / float64(time.Millisecond)
		cumErr := float64(a.At.Sub(cut)-expected) / float64(time.Millisecond)
		worstStep = max(worstStep, math.Abs(stepErr))
		if i == 0 {
			firstErr = cumErr
		}
		lastErr = cumErr
		rows = append(rows, row{section: sec, name: fmt.Sprintf("step %d: wait %v", i+1, wait),
			value: fmt.Sprintf("step error %+.3f ms, cumulative %+.3f ms", stepErr, cumErr)})
		prev = a.At
	}
	drift := (lastErr - firstErr) / float64(steps-1)
	rows = append(rows,
		row{section: sec, name: "worst step error", value: fmt.Sprintf("%.3f ms", worstStep), target: "≤ 2 ms", pass: ptr(worstStep <= 2)},
		row{section: sec, name: "drift (cumulative error growth per step)", value: fmt.Sprintf("%+.3f ms/step", drift), target: "≤ 0.5 ms/step", pass: ptr(drift <= 0.5)},
	)
	return rows, nil
}

// lossDetection measures cut (FIN) → OnOffline callback, n times.
func lossDetection(e endpoint, n int) ([]row, error) {
	t, err := e.open("loss", true)
	if err != nil {
		return nil, err
	}
	defer t.close()
	offline := make(chan time.Time, 1)
	cfg := t.config("loss")
	cfg.OnOffline = func(error) { offline <- time.Now() }
	c, err := testenv.StartClient(cfg)
	if err != nil {
		return nil, err
	}
	defer testenv.StopClient(c)
	var ds []time.Duration
	for range n {
		if err := testenv.AwaitStatus(c, client.StatusStable); err != nil {
			return nil, err
		}
		start := time.Now()
		t.Proxy.CutLinks(broker.FIN)
		select {
		case at := <-offline:
			ds = append(ds, at.Sub(start))
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("loss not reported")
		}
	}
	p50 := percentile(ds, 0.5)
	return []row{{section: "Link-loss detection: cut (FIN) → OnOffline callback", name: fmt.Sprintf("%d cuts", n),
		value: pcts(ds), target: "p50 < 1.5 ms", pass: ptr(p50 < 1500*time.Microsecond)}}, nil
}

// reconnectCost measures link back → connected and resubscribed: from the
// proxy accepting the successful attempt to the client being stable again
// (TLS, CONNACK, and the SUBACK of the renewal).
func reconnectCost(e endpoint, n int) ([]row, error) {
	t, err := e.open("reconnect", true)
	if err != nil {
		return nil, err
	}
	defer t.close()
	c, err := testenv.StartClient(t.config("reconnect"))
	if err != nil {
		return nil, err
	}
	defer testenv.StopClient(c)
	if _, err := c.Subscribe(context.Background(), t.topics+"/cmd/#", client.QoS1, nil); err != nil {
		return nil, err
	}
	var ds []time.Duration
	for range n {
		if err := goOffline(t, c); err != nil {
			return nil, err
		}
		mark := t.Events.Seq()
		t.Proxy.SetFault(broker.HangUp, false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		accept, err := t.Events.WaitFor(ctx, broker.Match{Kind: broker.KindAccept, After: mark})
		if err == nil {
			err = c.WaitStatus(ctx, client.StatusStable)
		}
		cancel()
		if err != nil {
			return nil, err
		}
		ds = append(ds, time.Since(accept.At))
	}
	return []row{{section: "Reconnect cost: TCP accept → TLS, CONNACK, SUBACK of the renewal", name: fmt.Sprintf("%d reconnects, 1 subscription", n), value: pcts(ds)}}, nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}

func pcts(ds []time.Duration) string {
	return fmt.Sprintf("p50 %s, p99 %s", fmtDur(percentile(ds, 0.5)), fmtDur(percentile(ds, 0.99)))
}

func fmtDur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
