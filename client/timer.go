package client

import (
	"sync"
	"time"
)

// Synchronous calls each wait with a timeout; their timers are recycled,
// so a busy caller allocates none. (Since Go 1.23 a stopped timer's channel
// never delivers a stale value after Reset.)
var timers sync.Pool

// startTimer returns a timer that fires after d.
func startTimer(d time.Duration) *time.Timer {
	if t, ok := timers.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

// recycleTimer stops t and keeps it for reuse. Nobody may use it afterwards.
func recycleTimer(t *time.Timer) {
	t.Stop()
	timers.Put(t)
}
