package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// timeline is a slog handler that prints one line per record, stamped with
// the time since the sample started, so a run reads as a timeline.
type timeline struct {
	start time.Time
	level slog.Level

	mu *sync.Mutex // guards w
	w  io.Writer
}

func newTimeline(w io.Writer, start time.Time, level slog.Level) *timeline {
	return &timeline{start: start, level: level, mu: &sync.Mutex{}, w: w}
}

func (t *timeline) Enabled(_ context.Context, l slog.Level) bool { return l >= t.level }

func (t *timeline) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "[%7.3fs] %s", r.Time.Sub(t.start).Seconds(), strings.TrimPrefix(r.Message, "client: "))
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	b.WriteByte('\n')
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := io.WriteString(t.w, b.String())
	return err
}

func (t *timeline) WithAttrs([]slog.Attr) slog.Handler { return t }
func (t *timeline) WithGroup(string) slog.Handler      { return t }

// say prints a line of the sample's own on the timeline.
func (t *timeline) say(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintf(t.w, "[%7.3fs] "+format+"\n", append([]any{time.Since(t.start).Seconds()}, args...)...)
}
