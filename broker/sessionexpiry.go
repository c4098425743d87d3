package broker

import (
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// sessionTimers expires persistent sessions on the profile's clock (mochi's
// own expiry counts whole seconds of real time, and so cannot be scaled).
type sessionTimers struct {
	srv *mqtt.Server
	// expired is called after a session is deleted.
	expired func()

	mu      sync.Mutex // guards pending, stopped
	pending map[string]*time.Timer
	stopped bool
}

func newSessionTimers(srv *mqtt.Server, expired func()) *sessionTimers {
	return &sessionTimers{srv: srv, expired: expired, pending: make(map[string]*time.Timer)}
}

// expireLater deletes cl's session after d unless its client id connects
// again first; d of 0 never expires it.
func (s *sessionTimers) expireLater(cl *mqtt.Client, d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	if t := s.pending[cl.ID]; t != nil {
		t.Stop()
	}
	s.pending[cl.ID] = time.AfterFunc(d, func() { s.expire(cl) })
}

// expire deletes cl's session if it is still the stored, offline one.
func (s *sessionTimers) expire(cl *mqtt.Client) {
	s.mu.Lock()
	delete(s.pending, cl.ID)
	s.mu.Unlock()
	if cur, ok := s.srv.Clients.Get(cl.ID); !ok || cur != cl || !cl.Closed() {
		return
	}
	s.srv.UnsubscribeClient(cl)
	cl.ClearInflights()
	s.srv.Clients.Delete(cl.ID)
	s.expired()
}

// cancel keeps the session of client id id: its client is back.
func (s *sessionTimers) cancel(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.pending[id]; t != nil {
		t.Stop()
		delete(s.pending, id)
	}
}

// stop cancels every pending expiry (the server is closing).
func (s *sessionTimers) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for id, t := range s.pending {
		t.Stop()
		delete(s.pending, id)
	}
}
