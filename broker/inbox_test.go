package broker_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// Messages received before Close are not lost: Next returns them, then
// ErrInboxClosed; nothing published after Close arrives.
func TestInboxCloseKeepsWhatArrivedBefore(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t)
	ctx := testenv.Context(t)
	inbox, err := b.Subscribe("in/#")
	require.NoError(t, err)
	// An inline subscription receives on the publisher's goroutine: both
	// messages are in the inbox when Publish returns.
	require.NoError(t, b.Publish(ctx, "in/1", []byte("one"), 0, false))
	require.NoError(t, b.Publish(ctx, "in/2", []byte("two"), 0, false))
	inbox.Close()
	require.NoError(t, b.Publish(ctx, "in/3", []byte("three"), 0, false))

	for _, want := range []string{"one", "two"} {
		m, err := inbox.Next(ctx)
		require.NoError(t, err)
		require.Equal(t, want, string(m.Payload))
	}
	_, err = inbox.Next(ctx)
	require.ErrorIs(t, err, broker.ErrInboxClosed)
}
