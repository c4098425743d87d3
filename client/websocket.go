package client

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/gorilla/websocket"

	"github.com/iotmqtt/iotmqtt/internal/wsconn"
)

// openWebsocket opens MQTT over WebSocket (wss, path /mqtt) with a freshly
// presigned URL. A refused upgrade (HTTP 403 for a bad signature) is an
// error that names the status.
func (c *Client) openWebsocket(ctx context.Context) (net.Conn, error) {
	u, err := c.presign.url(ctx, time.Now())
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{
		NetDialContext:  c.dialFunc(),
		TLSClientConfig: c.tls,
		Subprotocols:    []string{"mqtt"},
	}
	if deadline, ok := ctx.Deadline(); ok {
		d.HandshakeTimeout = time.Until(deadline)
	}
	ws, resp, err := d.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("WebSocket upgrade refused by %s: HTTP %s", c.endpoint(), resp.Status)
		}
		return nil, fmt.Errorf("WebSocket connect to %s: %w", c.endpoint(), err)
	}
	return wsconn.New(ws), nil
}
