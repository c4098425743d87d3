package client

import (
	"sync"
	"time"
)

// timerPool recycles the timers synchronous calls wait with, so a busy
// caller allocates none. Each client has its own (a timer made inside a
// testing/synctest bubble must not be used outside it). Since Go 1.23 a
// stopped timer's channel never delivers a stale value after Reset.
type timerPool struct{ p sync.Pool }

// start returns a timer that fires after d.
func (tp *timerPool) start(d time.Duration) *time.Timer {
	if t, ok := tp.p.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// recycle stops t and keeps it for reuse. Nobody may use it afterwards.
func (tp *timerPool) recycle(t *time.Timer) {
	t.Stop()
	tp.p.Put(t)
}
