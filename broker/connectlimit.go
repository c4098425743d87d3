package broker

import (
	"sync"
	"time"
)

// connectLimiter admits one CONNECT per interval per client id (AWS IoT
// Core: one per second, not adjustable). Refused attempts do not count.
type connectLimiter struct {
	interval time.Duration // on the profile's clock; 0 admits all

	mu   sync.Mutex // guards last
	last map[string]time.Time
}

func newConnectLimiter(interval time.Duration) *connectLimiter {
	return &connectLimiter{interval: interval, last: make(map[string]time.Time)}
}

// admit records a CONNECT with client id id, or refuses it; since is the
// time since the last admitted one.
func (l *connectLimiter) admit(id string) (since time.Duration, ok bool) {
	if l.interval <= 0 {
		return 0, true
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, seen := l.last[id]; seen {
		if since = now.Sub(prev); since < l.interval {
			return since, false
		}
	}
	l.last[id] = now
	if len(l.last) > 4096 { // forget ids whose interval has passed
		for k, t := range l.last {
			if now.Sub(t) >= l.interval {
				delete(l.last, k)
			}
		}
	}
	return since, true
}
