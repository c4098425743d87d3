package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/iotmqtt/iotmqtt/client/shadow"
)

// printer writes the samples' output; the updater's and the listener's
// callbacks run on goroutines of their own.
type printer struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func newPrinter(w io.Writer) *printer { return &printer{w: w} }

// print writes lines as Python's print does, one newline after each.
func (p *printer) print(lines ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range lines {
		fmt.Fprintln(p.w, l)
	}
}

// property returns state[section].property of a document as it was
// written, which is how Python's str() prints a number ("<missing>" if
// absent).
func property(payload []byte, section string) string {
	var doc struct{ State map[string]json.RawMessage }
	if err := json.Unmarshal(payload, &doc); err != nil {
		return "<invalid JSON>"
	}
	state := doc.State
	if section != "" {
		state = nil
		if err := json.Unmarshal(doc.State[section], &state); err != nil {
			return "<missing>"
		}
	}
	if v, ok := state["property"]; ok {
		return string(v)
	}
	return "<missing>"
}

// customShadowCallbackUpdate prints what basicShadowUpdater.py's
// customShadowCallback_Update prints.
func (s *sample) customShadowCallbackUpdate(r shadow.Response) {
	switch r.Status {
	case shadow.Timeout:
		s.out.print("Update request " + r.Token + " time out!")
	case shadow.Accepted:
		s.out.print("~~~~~~~~~~~~~~~~~~~~~~~",
			"Update request with token: "+r.Token+" accepted!",
			"property: "+property(r.Payload, "desired"),
			"~~~~~~~~~~~~~~~~~~~~~~~\n\n")
	case shadow.Rejected:
		s.out.print("Update request " + r.Token + " rejected!")
	default:
		s.say("update request %s: %v", r.Token, r.Err)
	}
	notify(s.answers)
}

// customShadowCallbackDelete prints what basicShadowUpdater.py's
// customShadowCallback_Delete prints.
func (s *sample) customShadowCallbackDelete(r shadow.Response) {
	switch r.Status {
	case shadow.Timeout:
		s.out.print("Delete request " + r.Token + " time out!")
	case shadow.Accepted:
		s.out.print("~~~~~~~~~~~~~~~~~~~~~~~",
			"Delete request with token: "+r.Token+" accepted!",
			"~~~~~~~~~~~~~~~~~~~~~~~\n\n")
	case shadow.Rejected:
		s.out.print("Delete request " + r.Token + " rejected!")
	default:
		s.say("delete request %s: %v", r.Token, r.Err)
	}
	notify(s.answers)
}

// customShadowCallbackDelta prints what basicShadowDeltaListener.py's
// customShadowCallback_Delta prints; Python's responseStatus for a delta
// is "delta/<thing>".
func (s *sample) customShadowCallbackDelta(r shadow.Response) {
	s.out.print(string(r.Status)+"/"+s.o.thingName,
		"++++++++DELTA++++++++++",
		"property: "+property(r.Payload, ""),
		fmt.Sprintf("version: %d", r.Version),
		"+++++++++++++++++++++++\n\n")
	notify(s.deltas)
}
