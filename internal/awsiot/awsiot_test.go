package awsiot

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTopicLimits(t *testing.T) {
	seven := "a/b/c/d/e/f/g/h"
	for _, tc := range []struct {
		name   string
		check  func(string) error
		topic  string
		errHas string // "" for accepted
	}{
		{"7 slashes", CheckTopicName, seven, ""},
		{"8 slashes", CheckTopicName, seven + "/i", "has 8 slashes"},
		{"256 bytes", CheckTopicName, strings.Repeat("x", 256), ""},
		{"257 bytes", CheckTopicName, strings.Repeat("x", 257), "is 257 bytes"},
		{"basic ingest prefix not counted", CheckTopicName, "$aws/rules/r/" + seven, ""},
		{"basic ingest prefix, 8 more slashes", CheckTopicName, "$aws/rules/r/" + seven + "/i", "has 8 slashes"},
		{"basic ingest prefix and 256 bytes", CheckTopicName, "$aws/rules/r/" + strings.Repeat("x", 256), ""},
		{"share prefix not counted in a filter", CheckTopicFilter, "$share/g/" + seven, ""},
		{"share prefix counted in a name", CheckTopicName, "$share/g/" + seven, "has 9 slashes"},
		{"rules prefix counted in a filter", CheckTopicFilter, "$aws/rules/r/" + seven, "has 10 slashes"},
		{"bare prefix", CheckTopicName, "$aws/rules/r", ""},
		{"filter 8 slashes", CheckTopicFilter, seven + "/#", "has 8 slashes"},
		{"share name of 128 characters", CheckTopicFilter, "$share/" + strings.Repeat("é", 128) + "/t", ""},
		{"share name of 129 characters", CheckTopicFilter, "$share/" + strings.Repeat("g", 129) + "/t", "group name of 129 characters, longer than AWS IoT Core's 128"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.topic)
			if tc.errHas == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.errHas)
		})
	}
}

func TestClientIDLimit(t *testing.T) {
	require.NoError(t, CheckClientID(strings.Repeat("c", 128)))
	require.ErrorContains(t, CheckClientID(strings.Repeat("c", 129)), "is 129 bytes, longer than AWS IoT Core's 128")
}
