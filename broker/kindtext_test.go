package broker_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
)

func TestKindTextRoundTrip(t *testing.T) {
	t.Parallel()
	names := broker.KindNames()
	require.Equal(t, "ACCEPT", names[0])
	require.Contains(t, names, "DROPPED")
	for _, name := range names {
		var k broker.Kind
		require.NoError(t, k.UnmarshalText([]byte(name)))
		require.Equal(t, name, k.String())
		text, err := k.MarshalText()
		require.NoError(t, err)
		require.Equal(t, name, string(text))
	}
	var k broker.Kind
	require.NoError(t, k.UnmarshalText([]byte("connack")), "any case")
	require.Equal(t, broker.KindConnack, k)

	out, err := json.Marshal(map[string]broker.Kind{"kind": broker.KindDeliver})
	require.NoError(t, err)
	require.JSONEq(t, `{"kind":"DELIVER"}`, string(out))
}

func TestKindTextErrors(t *testing.T) {
	t.Parallel()
	var k broker.Kind
	err := k.UnmarshalText([]byte("CONNEKT"))
	require.ErrorContains(t, err, `no event kind "CONNEKT" (kinds: ACCEPT, TLS-FAILURE, CONNECT`)
	require.Zero(t, k, "unchanged")
	_, err = broker.Kind(99).MarshalText()
	require.ErrorContains(t, err, "no event kind 99")
}
