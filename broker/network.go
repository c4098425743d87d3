package broker

import (
	"context"
	"net"
)

// network is where the broker and its proxies listen and dial: loopback
// TCP, or an in-memory network (WithMemoryNetwork) whose blocked reads,
// writes and accepts let a testing/synctest bubble's clock move.
type network interface {
	Listen(network, address string) (net.Listener, error)
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// tcpNetwork is the operating system's network.
type tcpNetwork struct{}

func (tcpNetwork) Listen(network, address string) (net.Listener, error) {
	return net.Listen(network, address)
}

func (tcpNetwork) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}
