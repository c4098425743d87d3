package broker_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
)

// Profile.Set takes each kind of field from text, as a command line gives
// it, and names what is wrong with a bad one.
func TestProfileSet(t *testing.T) {
	t.Parallel()
	p := broker.AWSIoTCore()
	for field, text := range map[string]string{
		"SubscribeQoS2": "grant", "EarlyPackets": "Accept", "UnackedResend": "20s", "MaxSubscriptions": "60",
		"MinKeepalive": "10", "TimeScale": "0.5", "RequireSNI": "false",
	} {
		require.NoError(t, p.Set(field, text), "%s=%s", field, text)
	}
	want := broker.AWSIoTCore()
	want.SubscribeQoS2, want.EarlyPackets, want.UnackedResend, want.MaxSubscriptions = broker.Grant, broker.Accept, 20*time.Second, 60
	want.MinKeepalive, want.TimeScale, want.RequireSNI = 10, 0.5, false
	require.Equal(t, want, p)

	for _, tc := range []struct{ field, text, errHas string }{
		{"NoSuchField", "1", `Profile has no field "NoSuchField"; the fields are TimeScale, MaxPayload`},
		{"SubscribeQoS2", "Maybe", "a reaction is one of Accept, Close, Discard, Grant, Hang, SubackFailure"},
		{"UnackedResend", "20", "a duration such as 500ms"},
		{"RequireSNI", "yes please", "true or false"},
		{"MinKeepalive", "70000", "a whole number from 0 to 65535"},
		{"MaxPayload", "lots", "a whole number"},
		{"TimeScale", "fast", "a number"},
		{"Policy", "allow", "cannot be set from text"},
	} {
		err := p.Set(tc.field, tc.text)
		require.ErrorContains(t, err, tc.errHas, "%s=%s", tc.field, tc.text)
	}
	require.Equal(t, want, p, "a bad value changes nothing")
}
