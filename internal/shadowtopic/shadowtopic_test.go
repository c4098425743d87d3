package shadowtopic

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTopics(t *testing.T) {
	classic, named := Shadow{Thing: "Bot"}, Shadow{Thing: "Bot", Name: "cfg"}
	require.Equal(t, "$aws/things/Bot/shadow/update", classic.Request(Update))
	require.Equal(t, "$aws/things/Bot/shadow/get/accepted", classic.Response(Get, Accepted))
	require.Equal(t, "$aws/things/Bot/shadow/name/cfg/update/delta", named.Response(Update, Delta))
	require.Equal(t, "$aws/things/Bot/shadow/name/cfg/delete/rejected", named.Response(Delete, Rejected))
	require.Equal(t, "Bot", classic.String())
	require.Equal(t, "Bot~cfg", named.String())
}

func TestParseRequest(t *testing.T) {
	tests := []struct {
		topic string
		want  Shadow
		op    Op
		ok    bool
	}{
		{"$aws/things/Bot/shadow/get", Shadow{Thing: "Bot"}, Get, true},
		{"$aws/things/Bot/shadow/update", Shadow{Thing: "Bot"}, Update, true},
		{"$aws/things/Bot/shadow/delete", Shadow{Thing: "Bot"}, Delete, true},
		{"$aws/things/Bot/shadow/name/cfg/update", Shadow{Thing: "Bot", Name: "cfg"}, Update, true},
		{"$aws/things/a.b/shadow/get", Shadow{Thing: "a.b"}, Get, true}, // parsed; Validate refuses it
		{"$aws/things/Bot/shadow/update/accepted", Shadow{}, "", false},
		{"$aws/things/Bot/shadow/name/cfg/update/delta", Shadow{}, "", false},
		{"$aws/things/Bot/shadow/list", Shadow{}, "", false},
		{"$aws/things/Bot/shadow/name/get", Shadow{}, "", false},
		{"$aws/things//shadow/get", Shadow{}, "", false},
		{"$aws/things/Bot/shadow/name//get", Shadow{}, "", false},
		{"$aws/things/+/shadow/get", Shadow{}, "", false},
		{"$aws/things/Bot/jobs/get", Shadow{}, "", false},
		{"things/Bot/shadow/get", Shadow{}, "", false},
	}
	for _, tt := range tests {
		s, op, ok := ParseRequest(tt.topic)
		require.Equal(t, tt.ok, ok, tt.topic)
		require.Equal(t, tt.want, s, tt.topic)
		require.Equal(t, tt.op, op, tt.topic)
	}
}

func TestValidate(t *testing.T) {
	require.NoError(t, Shadow{Thing: strings.Repeat("a", 128), Name: strings.Repeat("b", 64)}.Validate())
	require.NoError(t, Shadow{Thing: "my_Thing-1:x"}.Validate())
	require.EqualError(t, Shadow{}.Validate(), "the thing name is empty")
	require.EqualError(t, Shadow{Thing: strings.Repeat("a", 129)}.Validate(), "the thing name is 129 bytes, more than AWS IoT's 128")
	require.EqualError(t, Shadow{Thing: "a", Name: strings.Repeat("b", 65)}.Validate(), "the shadow name is 65 bytes, more than AWS IoT's 64")
	require.EqualError(t, Shadow{Thing: "a", Name: "$package"}.Validate(), `the shadow name "$package" contains '$'; AWS IoT allows only a-z, A-Z, 0-9, ':', '_' and '-'`)
	require.EqualError(t, Shadow{Thing: "a/b"}.Validate(), `the thing name "a/b" contains '/'; AWS IoT allows only a-z, A-Z, 0-9, ':', '_' and '-'`)
}
