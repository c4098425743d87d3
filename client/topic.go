package client

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/iotmqtt/iotmqtt/internal/awsiot"
)

// maxTopicLength is the MQTT limit on a topic's encoded length.
const maxTopicLength = 65535

// maxClientIDLength is the MQTT limit on a client id's encoded length.
const maxClientIDLength = 65535

// checkTopicName checks a topic to publish to against MQTT's rules and,
// unless PlainMQTT, AWS IoT Core's limits.
func (c *Config) checkTopicName(topic string) error {
	if err := validateTopicName(topic); err != nil {
		return err
	}
	return c.awsLimit(awsiot.CheckTopicName(topic))
}

// checkTopicFilter checks a subscription filter as checkTopicName does.
func (c *Config) checkTopicFilter(filter string) error {
	if err := validateTopicFilter(filter); err != nil {
		return err
	}
	return c.awsLimit(awsiot.CheckTopicFilter(filter))
}

// awsLimit returns err, a broken AWS IoT Core limit, unless PlainMQTT
// lifts those limits.
func (c *Config) awsLimit(err error) error {
	if err == nil || c.PlainMQTT {
		return nil
	}
	return fmt.Errorf("%v (AWS IoT Core would close the connection; Config.PlainMQTT lifts its limits)", err)
}

func validateTopicCommon(t string) error {
	switch {
	case t == "":
		return errors.New("must not be empty")
	case len(t) > maxTopicLength:
		return fmt.Errorf("is %d bytes, longer than MQTT's %d", len(t), maxTopicLength)
	case !utf8.ValidString(t):
		return errors.New("must be valid UTF-8")
	case containsNUL(t):
		return errors.New("must not contain NUL")
	}
	return nil
}

// validateTopicName checks a topic to publish to: no wildcards. (Every
// publish passes here: plain ASCII topics are checked in one pass.)
func validateTopicName(topic string) error {
	if len(topic) > 0 && len(topic) <= maxTopicLength && plainTopicName(topic) {
		return nil
	}
	if err := validateTopicCommon(topic); err != nil {
		return err
	}
	if strings.ContainsAny(topic, "+#") {
		return errors.New("must not contain the wildcards + or # (publish to a concrete topic)")
	}
	return nil
}

// plainTopicName reports whether t is ASCII without NUL or wildcards.
func plainTopicName(t string) bool {
	for i := 0; i < len(t); i++ {
		if b := t[i]; b == 0 || b == '+' || b == '#' || b >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// validateTopicFilter checks a subscription filter: "#" only as the whole
// last level, "+" only as a whole level.
func validateTopicFilter(filter string) error {
	if err := validateTopicCommon(filter); err != nil {
		return err
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return errors.New("may use # only as the whole last level")
		}
		if strings.Contains(l, "+") && l != "+" {
			return errors.New("may use + only as a whole level")
		}
	}
	return nil
}

func containsNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

func quote(s string) string { return strconv.Quote(s) }

func itoa(n int) string { return strconv.Itoa(n) }
