package client

import (
	"cmp"
	"slices"
	"strings"
)

// Message is a message received on a subscription.
type Message struct {
	Topic     string
	Payload   []byte
	QoS       QoS
	Retain    bool
	Duplicate bool
	MessageID uint16
}

// MessageHandler receives messages. It runs on the client's dispatcher
// goroutine; it may call the client, including its blocking methods.
type MessageHandler func(Message)

// subscription is one topic filter the client routes messages for.
type subscription struct {
	filter  string
	qos     QoS
	handler MessageHandler
	// confirmed: the broker granted it (SUBACK); only confirmed
	// subscriptions are renewed after a reconnect.
	confirmed bool
	// removing: an UNSUBSCRIBE has been sent; messages are no longer routed.
	removing bool
	order    uint64 // when it was added: callbacks run in this order
}

// subscriptions is the routing table: the filters in insertion order (the
// order in which callbacks run when several match, and in which they are
// renewed), indexed by a trie of their levels, so routing a message costs
// the topic's depth rather than the number of filters. Not safe for
// concurrent use (Client.mu).
type subscriptions struct {
	list     []*subscription
	byFilter map[string]*subscription
	routes   routeNode
	added    uint64
}

func (s *subscriptions) find(filter string) *subscription { return s.byFilter[filter] }

// sending records that a SUBSCRIBE for filter is going out: messages for it
// are routed to handler from now on. A filter already present keeps its
// place.
func (s *subscriptions) sending(filter string, qos QoS, handler MessageHandler) {
	if sub := s.find(filter); sub != nil {
		sub.qos, sub.handler, sub.removing = qos, handler, false
		return
	}
	s.added++
	sub := &subscription{filter: filter, qos: qos, handler: handler, order: s.added}
	if s.byFilter == nil {
		s.byFilter = make(map[string]*subscription)
	}
	s.list = append(s.list, sub)
	s.byFilter[filter] = sub
	s.routes.add(routingFilter(filter), sub)
}

// granted marks filter as confirmed by the broker.
func (s *subscriptions) granted(filter string) {
	if sub := s.find(filter); sub != nil && !sub.removing {
		sub.confirmed = true
	}
}

// unsubscribing stops routing for filter and excludes it from renewal.
func (s *subscriptions) unsubscribing(filter string) {
	if sub := s.find(filter); sub != nil {
		sub.removing = true
	}
}

// delete removes filter (refused, or unsubscribed).
func (s *subscriptions) delete(filter string) {
	sub := s.find(filter)
	if sub == nil {
		return
	}
	delete(s.byFilter, filter)
	s.list = slices.DeleteFunc(s.list, func(x *subscription) bool { return x == sub })
	s.routes.remove(routingFilter(filter), sub)
}

// deleteIfRemoving removes filter once its UNSUBACK arrives, unless a new
// SUBSCRIBE revived it meanwhile.
func (s *subscriptions) deleteIfRemoving(filter string) {
	if sub := s.find(filter); sub != nil && sub.removing {
		s.delete(filter)
	}
}

// confirmedFilters returns the filters to renew after a reconnect.
func (s *subscriptions) confirmedFilters() map[string]byte {
	out := make(map[string]byte)
	for _, sub := range s.list {
		if sub.confirmed && !sub.removing {
			out[sub.filter] = byte(sub.qos)
		}
	}
	return out
}

// handlers returns the callbacks of the filters that match topic, in the
// order the filters were added.
func (s *subscriptions) handlers(topic string) []MessageHandler {
	var found [4]*subscription
	matched := s.routes.match(topic, true, found[:0])
	if len(matched) > 1 {
		slices.SortFunc(matched, func(a, b *subscription) int { return cmp.Compare(a.order, b.order) })
	}
	var out []MessageHandler
	for _, sub := range matched {
		if !sub.removing && sub.handler != nil {
			out = append(out, sub.handler)
		}
	}
	return out
}

// routingFilter is the filter messages are matched against: a shared
// subscription "$share/group/filter" receives messages of filter.
func routingFilter(filter string) string {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		if _, f, ok := strings.Cut(rest, "/"); ok {
			return f
		}
	}
	return filter
}

// routeNode is one level of the routing trie: children by level ("+" and
// "#" included), and the subscriptions whose filter ends here (several
// when shared subscriptions route on the same filter).
type routeNode struct {
	next map[string]*routeNode
	subs []*subscription
}

// add files sub under filter's levels.
func (n *routeNode) add(filter string, sub *subscription) {
	for {
		level, rest, more := strings.Cut(filter, "/")
		child := n.next[level]
		if child == nil {
			child = &routeNode{}
			if n.next == nil {
				n.next = make(map[string]*routeNode)
			}
			n.next[level] = child
		}
		n = child
		if !more {
			break
		}
		filter = rest
	}
	n.subs = append(n.subs, sub)
}

// remove takes sub out from under filter's levels, pruning emptied nodes.
// It reports whether n itself is left empty.
func (n *routeNode) remove(filter string, sub *subscription) bool {
	level, rest, more := strings.Cut(filter, "/")
	if child := n.next[level]; child != nil {
		emptied := false
		if more {
			emptied = child.remove(rest, sub)
		} else {
			child.subs = slices.DeleteFunc(child.subs, func(x *subscription) bool { return x == sub })
			emptied = len(child.subs) == 0 && len(child.next) == 0
		}
		if emptied {
			delete(n.next, level)
		}
	}
	return len(n.subs) == 0 && len(n.next) == 0
}

// match appends the subscriptions under n whose filters match topic's
// levels (MQTT 3.1.1 §4.7); first says n is the root, where wildcards do
// not match topics starting with "$".
func (n *routeNode) match(topic string, first bool, out []*subscription) []*subscription {
	level, rest, more := strings.Cut(topic, "/")
	if !first || !strings.HasPrefix(topic, "$") {
		if c := n.next["#"]; c != nil {
			out = append(out, c.subs...)
		}
		if c := n.next["+"]; c != nil {
			out = c.matchRest(rest, more, out)
		}
	}
	if c := n.next[level]; c != nil && level != "+" && level != "#" { // (topics have no wildcards)
		out = c.matchRest(rest, more, out)
	}
	return out
}

// matchRest goes on below n with the topic's remaining levels, if any.
func (n *routeNode) matchRest(rest string, more bool, out []*subscription) []*subscription {
	if more {
		return n.match(rest, false, out)
	}
	out = append(out, n.subs...)
	if c := n.next["#"]; c != nil { // "a/#" also matches "a"
		out = append(out, c.subs...)
	}
	return out
}
