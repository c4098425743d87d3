// Package shadowtopic is the AWS IoT Device Shadow topic scheme, shared by
// the broker's shadow service and the shadow client: the topics of classic
// and named shadows, and the names AWS IoT accepts for things and shadows.
//
// The prefix is $aws/things/<thing>/shadow for the classic shadow and
// $aws/things/<thing>/shadow/name/<shadow> for a named one. A client
// publishes the requests <prefix>/get, <prefix>/update and <prefix>/delete;
// the service publishes the answers <prefix>/<op>/accepted and
// <prefix>/<op>/rejected, and after an accepted update <prefix>/update/delta
// and <prefix>/update/documents.
package shadowtopic

import (
	"fmt"
	"strings"
)

// Op is a shadow operation: what a request topic asks for.
type Op string

// The shadow operations.
const (
	Get    Op = "get"
	Update Op = "update"
	Delete Op = "delete"
)

// The suffixes of the topics the service publishes.
const (
	Accepted  = "accepted"
	Rejected  = "rejected"
	Delta     = "delta"     // under update only
	Documents = "documents" // under update only
)

// The limits AWS IoT Core documents for names (aws-iot-core-behaviour.md
// §5.5): both are made of [a-zA-Z0-9:_-].
const (
	MaxThingNameBytes  = 128
	MaxShadowNameBytes = 64
)

// Shadow names one shadow: a thing's classic shadow (Name "") or one of its
// named shadows.
type Shadow struct {
	Thing string
	Name  string
}

// String renders the shadow as AWS names it in its messages: the thing's
// name for the classic shadow, thing~name for a named one.
func (s Shadow) String() string {
	if s.Name == "" {
		return s.Thing
	}
	return s.Thing + "~" + s.Name
}

// Validate checks the thing and shadow names against AWS IoT's rules.
func (s Shadow) Validate() error {
	if err := checkName("thing name", s.Thing, MaxThingNameBytes); err != nil {
		return err
	}
	if s.Name != "" {
		return checkName("shadow name", s.Name, MaxShadowNameBytes)
	}
	return nil
}

func checkName(what, name string, limit int) error {
	switch {
	case name == "":
		return fmt.Errorf("the %s is empty", what)
	case len(name) > limit:
		return fmt.Errorf("the %s is %d bytes, more than AWS IoT's %d", what, len(name), limit)
	}
	for _, r := range name {
		if !validNameRune(r) {
			return fmt.Errorf("the %s %q contains %q; AWS IoT allows only a-z, A-Z, 0-9, ':', '_' and '-'", what, name, r)
		}
	}
	return nil
}

func validNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ':' || r == '_' || r == '-'
}

// Prefix returns the shadow's topic prefix.
func (s Shadow) Prefix() string {
	if s.Name == "" {
		return "$aws/things/" + s.Thing + "/shadow"
	}
	return "$aws/things/" + s.Thing + "/shadow/name/" + s.Name
}

// Request returns the topic a client publishes op's requests to.
func (s Shadow) Request(op Op) string { return s.Prefix() + "/" + string(op) }

// Response returns the topic of one of op's answers: Accepted, Rejected,
// or (for Update) Delta or Documents.
func (s Shadow) Response(op Op, suffix string) string {
	return s.Request(op) + "/" + suffix
}

// ParseRequest reports whether topic is a shadow request topic (get,
// update or delete of a classic or named shadow), and which. The names in
// it are not validated (see Shadow.Validate); a level that is empty or
// holds a wildcard makes it no request topic.
func ParseRequest(topic string) (Shadow, Op, bool) {
	rest, ok := strings.CutPrefix(topic, "$aws/things/")
	if !ok {
		return Shadow{}, "", false
	}
	levels := strings.Split(rest, "/")
	var s Shadow
	switch {
	case len(levels) == 3 && levels[1] == "shadow":
		s = Shadow{Thing: levels[0]}
	case len(levels) == 5 && levels[1] == "shadow" && levels[2] == "name":
		s = Shadow{Thing: levels[0], Name: levels[3]}
	default:
		return Shadow{}, "", false
	}
	for _, l := range levels {
		if l == "" || strings.ContainsAny(l, "+#") {
			return Shadow{}, "", false
		}
	}
	op := Op(levels[len(levels)-1])
	if op != Get && op != Update && op != Delete {
		return Shadow{}, "", false
	}
	return s, op, true
}
