package client

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTopicValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		topic       string
		name, filer bool // valid as a topic name; valid as a filter
	}{
		{"sdk/test/Python", true, true},
		{"a", true, true},
		{"/leading/slash", true, true},
		{"$aws/things/t/shadow/update", true, true},
		{"", false, false},
		{"a/+/c", false, true},
		{"a/#", false, true},
		{"#", false, true},
		{"+", false, true},
		{"a/b#", false, false},
		{"a/#/c", false, false},
		{"a+/b", false, false},
		{"a\x00b", false, false},
		{"\xff", false, false},
		{"café/\xff", false, false},
		{"café/température", true, true},
		{"café/#", false, true},
		{strings.Repeat("x", 65535), true, true},
		{strings.Repeat("x", 65536), false, false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.name, validateTopicName(tt.topic) == nil, "topic name %.20q", tt.topic)
		require.Equal(t, tt.filer, validateTopicFilter(tt.topic) == nil, "filter %.20q", tt.topic)
	}
}

func TestTopicMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/b", "a", false},
		{"a", "a/b", false},
		{"#", "a/b", true},
		{"+/+", "/finance", true},
		{"+", "/finance", false},
		{"#", "$SYS/x", false},
		{"+/x", "$aws/x", false},
		{"$aws/#", "$aws/things/t", true},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, topicMatches(tt.filter, tt.topic), "%q vs %q", tt.filter, tt.topic)
	}
}

// The Python SDK's metrics cases (test_mqtt_core.py), with this library's
// name, plus a custom-authorizer user name that already has a query.
func TestMetricsUsername(t *testing.T) {
	t.Parallel()
	suffix := "SDK=iotmqtt&Version=" + Version
	tests := []struct {
		username string
		metrics  bool
		want     string
	}{
		{"DummyUsername", true, "DummyUsername?" + suffix},
		{"", true, "?" + suffix},
		{"DummyUsername", false, "DummyUsername"},
		{"", false, ""},
		{"user?x-amz-customauthorizer-name=auth", true, "user?x-amz-customauthorizer-name=auth&" + suffix},
	}
	for _, tt := range tests {
		cfg := Config{Username: tt.username, DisableMetrics: !tt.metrics}
		require.Equal(t, tt.want, cfg.mqttUsername())
	}
}

func TestSharedSubscriptionsRouteOnTheirFilter(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a/+", routingFilter("$share/grp/a/+"))
	require.Equal(t, "a", routingFilter("a"))
	require.Equal(t, "$share", routingFilter("$share"))
	var s subscriptions
	hit := 0
	s.sending("$share/grp/sensors/#", QoS1, func(Message) { hit++ })
	for _, h := range s.handlers("sensors/t1") {
		h(Message{})
	}
	require.Equal(t, 1, hit)
	require.Empty(t, s.handlers("$share/grp/sensors/t1"))
}

// topicMatches reports whether topic matches filter (MQTT 3.1.1 §4.7),
// level by level: the reference the routing trie is checked against.
// Wildcards at the first level do not match topics starting with "$".
func topicMatches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, fRest, fMore := strings.Cut(filter, "/")
		t, tRest, tMore := strings.Cut(topic, "/")
		switch {
		case f == "#":
			return true
		case f != "+" && f != t:
			return false
		case !fMore && !tMore:
			return true
		case !tMore:
			// "a/#" also matches "a".
			return fMore && fRest == "#"
		case !fMore:
			return false
		}
		filter, topic = fRest, tRest
	}
}

// The largest accepted payload fits an MQTT packet with the longest topic
// and a packet id.
func TestLargestPayloadFitsAnyTopic(t *testing.T) {
	t.Parallel()
	require.Equal(t, maxRemainingLength, 2+maxTopicLength+2+maxMQTTPayload)
	cfg := Config{ClientID: "x", Host: "localhost", TLSConfig: &tls.Config{}, MaxPayloadSize: maxMQTTPayload}.withDefaults()
	require.NoError(t, cfg.validate())
	cfg.ConfigureDrainingFrequency(1e-9) // one request every 31.7 years still fits
	require.NoError(t, cfg.validate())
}
