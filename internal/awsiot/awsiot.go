// Package awsiot holds AWS IoT Core's MQTT limits and topic rules, shared by
// the client (which refuses before sending what AWS would close the link
// for) and the broker's AWS IoT Core profile (which closes the link as AWS
// does). Sources: ../shared/reference/aws-iot-core-behaviour.md, rows T1,
// P2, U1, C4 (AWS IoT Core quotas, "Protocol limits"; awslabs/aws-c-mqtt
// mqtt5_utils.h).
package awsiot

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// AWS IoT Core's per-request limits.
const (
	// MaxPayload is the largest PUBLISH payload, 128 KiB; one byte more
	// and AWS closes the connection.
	MaxPayload = 128 * 1024
	// MaxTopicBytes is the longest topic name or filter in bytes of UTF-8,
	// not counting the prefixes TopicRuleLevels and SharedPrefix name.
	MaxTopicBytes = 256
	// MaxTopicSlashes is the most forward slashes (8 levels) a topic name
	// or filter may have, not counting those prefixes.
	MaxTopicSlashes = 7
	// MaxClientIDBytes is the longest client id in bytes of UTF-8.
	MaxClientIDBytes = 128
	// MaxFiltersPerSubscribe is the most topic filters one SUBSCRIBE may
	// carry; a ninth closes the connection.
	MaxFiltersPerSubscribe = 8
	// MaxShareNameChars is the longest group name of a shared subscription,
	// $share/<group>/…, in characters.
	MaxShareNameChars = 128
)

// BasicIngestPrefix starts a Basic Ingest topic, $aws/rules/<rule>/…: the
// message goes to the rules engine only. Its first three levels do not
// count towards the topic limits.
const BasicIngestPrefix = "$aws/rules/"

// SharedPrefix starts a shared subscription filter, $share/<group>/…,
// whose first two levels do not count towards the topic limits.
const SharedPrefix = "$share/"

// CheckTopicName checks a topic name to publish to against AWS's length
// and level limits. The error says which limit it breaks.
func CheckTopicName(topic string) error {
	return checkLimits(strip(topic, BasicIngestPrefix, 3))
}

// CheckTopicFilter checks a subscription filter against AWS's length and
// level limits, and a shared subscription's group name against its limit.
func CheckTopicFilter(filter string) error {
	if rest, shared := strings.CutPrefix(filter, SharedPrefix); shared {
		if group, _, ok := strings.Cut(rest, "/"); ok {
			if n := utf8.RuneCountInString(group); n > MaxShareNameChars {
				return fmt.Errorf("has a shared subscription group name of %d characters, longer than AWS IoT Core's %d", n, MaxShareNameChars)
			}
		}
	}
	return checkLimits(strip(filter, SharedPrefix, 2))
}

// strip removes the first levels of s if it starts with prefix: the part
// AWS does not count.
func strip(s, prefix string, levels int) string {
	if !strings.HasPrefix(s, prefix) {
		return s
	}
	rest := s
	for range levels {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return s // too short to be the reserved form; count it all
		}
		rest = rest[i+1:]
	}
	return rest
}

func checkLimits(counted string) error {
	if n := len(counted); n > MaxTopicBytes {
		return fmt.Errorf("is %d bytes, longer than AWS IoT Core's %d", n, MaxTopicBytes)
	}
	if n := strings.Count(counted, "/"); n > MaxTopicSlashes {
		return fmt.Errorf("has %d slashes, more than AWS IoT Core's %d", n, MaxTopicSlashes)
	}
	return nil
}

// CheckClientID checks a client id against AWS's length limit.
func CheckClientID(id string) error {
	if n := len(id); n > MaxClientIDBytes {
		return fmt.Errorf("is %d bytes, longer than AWS IoT Core's %d", n, MaxClientIDBytes)
	}
	return nil
}
