package broker

import (
	"fmt"
	"net"
	"strconv"
)

// Listener names, as they appear in Event.Listener.
const (
	// ListenerMTLS is the mutual-TLS listener (AWS IoT's port 8883); ALPN
	// x-amzn-mqtt-ca is offered, not required. It always runs.
	ListenerMTLS = "mtls"
	// ListenerALPN is mutual TLS that requires ALPN (AWS IoT's port 443;
	// WithALPN).
	ListenerALPN = "alpn"
	// ListenerTCP is plain MQTT (WithPlainTCP).
	ListenerTCP = "tcp"
	// ListenerWSS is MQTT over WebSocket with SigV4 (WithWebSocket).
	ListenerWSS = "wss"
)

// Listener is one of the broker's listeners as a client sees it: where to
// connect, and the fault proxy in front of it.
type Listener struct {
	// Name is ListenerMTLS, ListenerALPN, ListenerTCP or ListenerWSS.
	Name string
	// Host is the host name to configure a client with: one the server
	// certificate covers ("localhost" by default), so the client sends it
	// as SNI and verifies it, as on AWS.
	Host string
	// Port is the port clients connect to.
	Port int
	// Addr is "127.0.0.1:port", where the proxy listens.
	Addr string
	// URL is the listener in the form clients such as paho take:
	// "tls://localhost:port", "tcp://localhost:port" or
	// "wss://localhost:port/mqtt".
	URL string
	// Proxy is the fault proxy in front of the listener. Its DialContext
	// reaches it whatever address is asked: a device's socket factory.
	Proxy *Proxy
}

// newListener describes the listener behind proxy p.
func newListener(name, host string, p *Proxy) *Listener {
	_, port, _ := net.SplitHostPort(p.Addr())
	n, _ := strconv.Atoi(port)
	hostPort := net.JoinHostPort(host, port)
	url := "tls://" + hostPort
	switch name {
	case ListenerTCP:
		url = "tcp://" + hostPort
	case ListenerWSS:
		url = "wss://" + hostPort + "/mqtt"
	}
	return &Listener{Name: name, Host: host, Port: n, Addr: p.Addr(), URL: url, Proxy: p}
}

// String names the listener and its address.
func (l *Listener) String() string { return fmt.Sprintf("%s %s", l.Name, l.URL) }
