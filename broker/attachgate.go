package broker

import (
	"sync"
	"time"
)

// attachGate holds mochi's Close until every connection the broker handed
// mochi is attached. mochi's attachClient adds each new client to a
// WaitGroup that Close waits on (mochi v2.7.9 server.go:407-408 and
// listeners.go CloseAll), so a connection accepted just as Close began
// raced it: a data race the race detector reported under load. A
// connection counts as attached once mochi first reads from it or sets its
// deadline, which attachClient does only after that Add; once closing, the
// gate admits no more connections.
type attachGate struct {
	mu      sync.Mutex // guards closing, pending
	closing bool
	pending int           // admitted, not yet attached
	idle    chan struct{} // closed when closing and nothing is pending
}

func newAttachGate() *attachGate { return &attachGate{idle: make(chan struct{})} }

// admit counts a connection about to be handed to mochi and returns the
// function that marks it attached (it may be called more than once), or
// false if the gate is closing: the connection must then not be handed on.
func (g *attachGate) admit() (attached func(), ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return nil, false
	}
	g.pending++
	var once sync.Once
	return func() { once.Do(g.attached) }, true
}

func (g *attachGate) attached() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pending--
	if g.closing && g.pending == 0 {
		close(g.idle)
	}
}

// close admits no more connections and waits, at most d, until the
// admitted ones are attached.
func (g *attachGate) close(d time.Duration) {
	g.mu.Lock()
	g.closing = true
	if g.pending == 0 {
		close(g.idle)
	}
	g.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-g.idle:
	case <-t.C:
	}
}
