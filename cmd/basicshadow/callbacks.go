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
	s.printAnswer("Update", r, "property: "+property(r.Payload, "desired"))
}

// customShadowCallbackDelete prints what basicShadowUpdater.py's
// customShadowCallback_Delete prints.
func (s *sample) customShadowCallbackDelete(r shadow.Response) { s.printAnswer("Delete", r) }

// printAnswer prints an answer to a request as the updater's callbacks
// do, with details for an accepted one.
func (s *sample) printAnswer(request string, r shadow.Response, details ...string) {
	switch r.Status {
	case shadow.Timeout:
		s.out.print(request + " request " + r.Token + " time out!")
	case shadow.Accepted:
		lines := append([]string{"~~~~~~~~~~~~~~~~~~~~~~~", request + " request with token: " + r.Token + " accepted!"}, details...)
		s.out.print(append(lines, "~~~~~~~~~~~~~~~~~~~~~~~\n\n")...)
	case shadow.Rejected:
		s.out.print(request + " request " + r.Token + " rejected!")
	default:
		s.say("%s request %s: %v", request, r.Token, r.Err)
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
