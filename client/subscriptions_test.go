package client

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The routing trie agrees with the level-by-level definition of matching
// on random filters and topics, including wildcards at every level, empty
// levels, "$" topics and shared subscriptions, as filters come and go.
func TestRoutingTrieAgreesWithTopicMatching(t *testing.T) {
	t.Parallel()
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	levels := []string{"a", "b", "", "$aws", "c"}
	randomTopic := func() string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[rng.IntN(len(levels))]
		}
		return strings.Join(parts, "/")
	}
	randomFilter := func() string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			switch r := rng.IntN(10); {
			case r < 2:
				parts[i] = "+"
			case r < 3 && i == n-1:
				parts[i] = "#"
			default:
				parts[i] = levels[rng.IntN(len(levels))]
			}
		}
		f := strings.Join(parts, "/")
		if rng.IntN(8) == 0 {
			f = "$share/g/" + f
		}
		return f
	}

	var s subscriptions
	called := map[string]int{} // filter → calls in the last routing
	for range 300 {
		f := randomFilter()
		if rng.IntN(4) == 0 && len(s.list) > 0 {
			f = s.list[rng.IntN(len(s.list))].filter
			s.delete(f)
		} else {
			s.sending(f, QoS1, func(Message) { called[f]++ })
		}
		for range 20 {
			topic := randomTopic()
			clear(called)
			for _, h := range s.handlers(topic) {
				h(Message{})
			}
			for _, sub := range s.list {
				want := 0
				if topicMatches(routingFilter(sub.filter), topic) {
					want = 1
				}
				require.Equal(t, want, called[sub.filter], "filter %q, topic %q", sub.filter, topic)
			}
		}
	}
	for len(s.list) > 0 {
		s.delete(s.list[0].filter)
	}
	require.Empty(t, s.routes.next, "deleting every filter prunes the trie")
}

// Callbacks run in the order their filters were added, whatever the levels.
func TestRoutingKeepsInsertionOrder(t *testing.T) {
	t.Parallel()
	var s subscriptions
	var got []string
	for _, f := range []string{"a/b/c", "#", "a/+/c", "a/#", "+/b/+"} {
		s.sending(f, QoS0, func(Message) { got = append(got, f) })
	}
	s.sending("#", QoS1, func(Message) { got = append(got, "# again") }) // keeps its place
	for _, h := range s.handlers("a/b/c") {
		h(Message{})
	}
	require.Equal(t, []string{"a/b/c", "# again", "a/+/c", "a/#", "+/b/+"}, got)
}

func BenchmarkRouting100Filters(b *testing.B) {
	var s subscriptions
	for i := range 99 {
		s.sending("sdk/test/bench/other/"+itoa(i)+"/#", QoS1, func(Message) {})
	}
	s.sending("sdk/test/bench/echo", QoS1, func(Message) {})
	b.ReportAllocs()
	for b.Loop() {
		if len(s.handlers("sdk/test/bench/echo")) != 1 {
			b.Fatal("no route")
		}
	}
}
