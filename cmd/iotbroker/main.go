// Command iotbroker runs the test harness as a standalone local endpoint
// that any MQTT device or SDK can be pointed at, as at AWS IoT Core: mutual
// TLS on 127.0.0.1:8883 with a device kit named like AWS's downloads,
// optionally port 443 with ALPN, WebSocket with SigV4 on /mqtt and plain
// TCP; and an HTTP control API with a live page on 127.0.0.1:9883 to break
// the links, refuse and stall the protocol, publish from the broker and
// follow every event it records.
//
//	go run ./cmd/iotbroker                       # mutual TLS on 127.0.0.1:8883, kit in ./iotbroker-kit
//	go run ./cmd/iotbroker --alpn 127.0.0.1:443 --wss 127.0.0.1:8443 --tcp 127.0.0.1:1883
//	curl -X POST 127.0.0.1:9883/cut              # cut every link (FIN)
//	curl -N 127.0.0.1:9883/events/stream         # follow the events
//
// When ready it prints one JSON line on stdout (endpoints, files, control
// URL); everything else goes to stderr. SIGINT and SIGTERM stop it cleanly;
// the kit stays, and the next start reuses its CA, so devices keep working.
package main

import "github.com/iotmqtt/iotmqtt/internal/samples"

func main() { samples.Main("iotbroker", run) }
