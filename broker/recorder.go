package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Match selects events. Zero fields match anything.
type Match struct {
	Kind     Kind
	ClientID string
	Topic    string
	// Fault matches fault events (KindFault) of that kind.
	Fault FaultKind
	// After matches only events recorded after the event with this sequence
	// number (see Recorder.Seq), so a test can wait for what happens next.
	After uint64
	// Where, if set, must also return true. It runs without the recorder's
	// lock held: it may call the recorder, and a panic in it leaves the
	// recorder usable.
	Where func(Event) bool
}

func (m Match) matches(e Event) bool {
	return (m.Kind == 0 || e.Kind == m.Kind) &&
		(m.ClientID == "" || e.ClientID == m.ClientID) &&
		(m.Topic == "" || e.Topic == m.Topic) &&
		(m.Fault == "" || e.Fault == m.Fault) &&
		e.Seq > m.After &&
		(m.Where == nil || m.Where(e))
}

func (m Match) String() string {
	var parts []string
	if m.Kind != 0 {
		parts = append(parts, m.Kind.String())
	}
	if m.ClientID != "" {
		parts = append(parts, "client="+m.ClientID)
	}
	if m.Topic != "" {
		parts = append(parts, "topic="+m.Topic)
	}
	if m.Fault != "" {
		parts = append(parts, "fault="+string(m.Fault))
	}
	if m.After != 0 {
		parts = append(parts, fmt.Sprintf("after=#%d", m.After))
	}
	if m.Where != nil {
		parts = append(parts, "where=func")
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// DefaultEventLimit is how many events a Recorder keeps unless told
// otherwise (NewRecorderWithLimit, WithEventLimit): the latest 100,000. An
// event takes about 300 bytes plus its strings and payload copy (about 400
// for a small PUBLISH), so the default bound is about 40 MB with small
// payloads.
const DefaultEventLimit = 100_000

// ErrEventsDiscarded is returned by WaitFor and WaitForN when events they
// had not yet examined were discarded to keep the recorder within its
// limit: the wait cannot tell whether one of them matched.
var ErrEventsDiscarded = errors.New("broker: events discarded before they were examined")

// Recorder keeps the latest events in order, with their times, and lets
// tests wait for events instead of sleeping. It keeps at most its limit of
// events (DefaultEventLimit unless told otherwise), discarding the oldest;
// Discarded says how many went. It is safe for concurrent use.
type Recorder struct {
	limit int // 0: keep every event

	mu      sync.Mutex    // guards the fields below
	events  []Event       // ring: the event with sequence number s is events[(s-1) % len(events)]
	last    uint64        // sequence number of the latest event
	changed chan struct{} // closed and replaced on every add
}

// NewRecorder returns an empty recorder that keeps the latest
// DefaultEventLimit events.
func NewRecorder() *Recorder { return NewRecorderWithLimit(DefaultEventLimit) }

// NewRecorderWithLimit returns an empty recorder that keeps the latest limit
// events; 0 (or less) keeps every event, and memory grows without bound.
func NewRecorderWithLimit(limit int) *Recorder {
	return &Recorder{limit: max(limit, 0), changed: make(chan struct{})}
}

func (r *Recorder) add(e Event) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	r.mu.Lock()
	r.last++
	e.Seq = r.last
	if r.limit == 0 || len(r.events) < r.limit {
		r.events = append(r.events, e)
	} else {
		r.events[(e.Seq-1)%uint64(len(r.events))] = e
	}
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Seq returns the sequence number of the latest event (0 if none). Use it
// as Match.After to wait only for what happens from now on.
func (r *Recorder) Seq() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Discarded returns how many of the oldest events were discarded to keep
// the recorder within its limit. Events and Count see only the others.
func (r *Recorder) Discarded() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last - uint64(len(r.events))
}

// Events returns a copy of the kept events that match m, in order.
func (r *Recorder) Events(m Match) []Event {
	r.mu.Lock()
	kept, _ := r.afterLocked(m.After)
	r.mu.Unlock()
	var out []Event
	for _, e := range kept {
		if m.matches(e) {
			out = append(out, e)
		}
	}
	return out
}

// Count returns how many kept events match m.
func (r *Recorder) Count(m Match) int { return len(r.Events(m)) }

// afterLocked returns copies of the kept events recorded after the one
// numbered seen, and how many events after it were discarded.
func (r *Recorder) afterLocked(seen uint64) (kept []Event, discarded uint64) {
	if seen >= r.last {
		return nil, 0
	}
	from := seen + 1
	if oldest := r.last - uint64(len(r.events)) + 1; from < oldest {
		discarded, from = oldest-from, oldest
	}
	n := len(r.events)
	start := int((from - 1) % uint64(n))
	count := int(r.last - from + 1)
	kept = make([]Event, 0, count)
	kept = append(kept, r.events[start:min(start+count, n)]...)
	return append(kept, r.events[:count-len(kept)]...), discarded
}

// WaitFor returns the first event that matches m, waiting for it until ctx
// ends.
func (r *Recorder) WaitFor(ctx context.Context, m Match) (Event, error) {
	evs, err := r.WaitForN(ctx, 1, m)
	if err != nil {
		return Event{}, err
	}
	return evs[0], nil
}

// WaitForN returns the first n events that match m, waiting for them until
// ctx ends. Each event is examined once, as it arrives. On timeout the
// error lists what was seen; if events the wait had not examined yet were
// discarded (see Recorder), it fails with ErrEventsDiscarded.
func (r *Recorder) WaitForN(ctx context.Context, n int, m Match) ([]Event, error) {
	var found []Event
	seen := m.After // the latest sequence number examined
	for {
		r.mu.Lock()
		fresh, discarded := r.afterLocked(seen)
		changed := r.changed
		r.mu.Unlock()
		if discarded > 0 {
			return found, fmt.Errorf("%w: waiting for %d event(s) matching %v, %d event(s) after #%d were dropped (the recorder keeps %d)",
				ErrEventsDiscarded, n, m, discarded, seen, r.limit)
		}
		for _, e := range fresh {
			if len(found) >= n {
				break
			}
			seen = e.Seq
			if m.matches(e) {
				found = append(found, e)
			}
		}
		if len(found) >= n {
			return found, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return found, fmt.Errorf("broker: waiting for %d event(s) matching %v: saw %d: %w\n%s",
				n, m, len(found), ctx.Err(), r.tail(20))
		}
	}
}

// tail renders the last n events, for failure messages.
func (r *Recorder) tail(n int) string {
	r.mu.Lock()
	kept, _ := r.afterLocked(r.last - min(r.last, uint64(n)))
	all := r.last
	r.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "last %d of %d events:\n", len(kept), all)
	for _, e := range kept {
		b.WriteString("  " + e.String() + "\n")
	}
	return b.String()
}
