package wsconn_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/internal/wsconn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The server echoes what it reads, in 3-byte messages, to check that reads
// span message boundaries and that writes are whole messages.
func TestStreamOverMessages(t *testing.T) {
	t.Parallel()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_, msg, err := ws.ReadMessage()
		if err != nil {
			return
		}
		for len(msg) > 0 {
			n := min(3, len(msg))
			if ws.WriteMessage(websocket.BinaryMessage, msg[:n]) != nil {
				return
			}
			msg = msg[n:]
		}
	}))
	defer srv.Close()

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	require.NoError(t, err)
	c := wsconn.New(ws)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(5*time.Second)))
	want := []byte("a packet of eleven+ bytes")
	n, err := c.Write(want)
	require.NoError(t, err)
	require.Equal(t, len(want), n)
	got := make([]byte, len(want))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, got))
	require.NotNil(t, c.LocalAddr())
	require.Equal(t, c.RemoteAddr(), c.Underlying().RemoteAddr())
}
