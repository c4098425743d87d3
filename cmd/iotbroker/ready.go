package main

import (
	"os"

	"github.com/iotmqtt/iotmqtt/broker"
)

// readyInfo is the JSON line iotbroker prints on stdout when it is ready,
// and what GET /info answers: where to connect and with which files.
type readyInfo struct {
	Ready     bool                    `json:"ready"`
	PID       int                     `json:"pid"`
	Profile   string                  `json:"profile"`
	Shadow    bool                    `json:"shadow"`
	Control   string                  `json:"control"`
	Endpoints map[string]endpointJSON `json:"endpoints"`
	Hosts     []string                `json:"hosts"`
	Kit       kitJSON                 `json:"kit"`
}

// endpointJSON is one listener.
type endpointJSON struct {
	Host string   `json:"host"`
	Port int      `json:"port"`
	Addr string   `json:"addr"`
	URL  string   `json:"url"`
	ALPN []string `json:"alpn,omitempty"`
	Auth string   `json:"auth"`
}

// kitJSON is the device kit.
type kitJSON struct {
	Dir       string  `json:"dir"`
	RootCA    string  `json:"root_ca"`
	CACreated bool    `json:"ca_created"`
	Things    []thing `json:"things"`
}

// newReadyInfo describes the running broker.
func newReadyInfo(o *options, b *broker.Broker, k *kit, controlURL string) readyInfo {
	info := readyInfo{
		Ready: true, PID: os.Getpid(), Profile: o.profile, Shadow: o.shadow, Control: controlURL,
		Endpoints: make(map[string]endpointJSON), Hosts: serverHosts(o),
		Kit: kitJSON{Dir: k.dir, RootCA: k.rootCA(), CACreated: k.caCreated, Things: k.list()},
	}
	for _, l := range b.Listeners() {
		e := endpointJSON{Host: l.Host, Port: l.Port, Addr: l.Addr, URL: l.URL}
		switch l.Name {
		case broker.ListenerMTLS:
			e.Auth = "client certificate"
		case broker.ListenerALPN:
			e.ALPN, e.Auth = []string{broker.ALPNMQTTCA}, "client certificate"
			if o.customAuth != "" {
				e.ALPN, e.Auth = append(e.ALPN, broker.ALPNMQTT), "client certificate; or, with ALPN mqtt, the custom authorizer's password"
			}
		case broker.ListenerWSS:
			e.Auth = "SigV4 presigned URL"
		case broker.ListenerTCP:
			e.Auth = "none"
		}
		info.Endpoints[l.Name] = e
	}
	return info
}

// serverHosts are the names and addresses of the server certificate:
// localhost and 127.0.0.1 first (every Listener's Host is localhost), then
// --host.
func serverHosts(o *options) []string {
	return append([]string{"localhost", "127.0.0.1"}, o.hosts...)
}
