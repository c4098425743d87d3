package client

import "strings"

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
}

// subscriptions is the routing table, in insertion order (the order in
// which callbacks run when several filters match). Not safe for concurrent
// use (Client.mu).
type subscriptions struct {
	list []*subscription
}

func (s *subscriptions) find(filter string) *subscription {
	for _, sub := range s.list {
		if sub.filter == filter {
			return sub
		}
	}
	return nil
}

// sending records that a SUBSCRIBE for filter is going out: messages for it
// are routed to handler from now on. A filter already present keeps its
// place.
func (s *subscriptions) sending(filter string, qos QoS, handler MessageHandler) {
	if sub := s.find(filter); sub != nil {
		sub.qos, sub.handler, sub.removing = qos, handler, false
		return
	}
	s.list = append(s.list, &subscription{filter: filter, qos: qos, handler: handler})
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
	for i, sub := range s.list {
		if sub.filter == filter {
			s.list = append(s.list[:i], s.list[i+1:]...)
			return
		}
	}
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

// handlers returns the callbacks of the filters that match topic.
func (s *subscriptions) handlers(topic string) []MessageHandler {
	var out []MessageHandler
	for _, sub := range s.list {
		if !sub.removing && sub.handler != nil && topicMatches(routingFilter(sub.filter), topic) {
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
