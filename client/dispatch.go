package client

import (
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
)

// dispatcher runs user callbacks one at a time, in order, on its own
// goroutine, so that no callback runs on the network path. A panicking
// callback is recovered and logged. The queue is unbounded: a slow callback
// delays the callbacks behind it, never the connection.
type dispatcher struct {
	log *slog.Logger

	mu      sync.Mutex // guards queue, closed
	queue   []func()
	closed  bool
	wake    chan struct{} // buffered 1
	stopped chan struct{} // closed when the goroutine has exited
}

// startDispatcher starts a dispatcher. Its first callback runs only after
// prev (the previous run's dispatcher, if any) has finished, so callbacks
// stay in order across Disconnect and Connect.
func startDispatcher(log *slog.Logger, prev *dispatcher) *dispatcher {
	d := &dispatcher{log: log, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go d.run(prev)
	return d
}

// push queues fn. After close, fn is dropped.
func (d *dispatcher) push(fn func()) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.queue = append(d.queue, fn)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// close lets the goroutine exit once the queued callbacks have run.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run(prev *dispatcher) {
	defer close(d.stopped)
	if prev != nil {
		<-prev.stopped
	}
	var spare []func() // the previous batch's array, reused
	idle := 0
	for {
		d.mu.Lock()
		batch, closed := d.queue, d.closed
		d.queue = spare[:0]
		d.mu.Unlock()
		for _, fn := range batch {
			d.call(fn)
		}
		clear(batch)
		spare = batch
		switch {
		case len(batch) > 0:
			idle = 0
		case closed:
			return
		case idle == 0:
			// Under load more callbacks are about to come: yield once
			// before sleeping, so they run as one batch.
			idle++
			runtime.Gosched()
		default:
			idle = 0
			<-d.wake
		}
	}
}

func (d *dispatcher) call(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("client: callback panicked; recovered", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	fn()
}
