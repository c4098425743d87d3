// Command basicshadow is AWS's basicShadow sample in Go: the updater
// (basicShadowUpdater.py) deletes the shadow of a thing, then sets
// {"state":{"desired":{"property":n}}} every second, printing each answer;
// the delta listener (basicShadowDeltaListener.py) prints every delta.
//
// It takes the Python samples' flags (-e, -r, -c, -k, -p, -w, -n, -id),
// plus -m/--mode (both, updater or listener; default both: the two samples
// as two clients in one process), --count and --interval. Without
// -e/--endpoint it starts the embedded broker, whose Device Shadow service
// answers as AWS IoT Core's does; in listener mode there, the broker's data
// plane sets the desired state, as an application would.
//
//	go run ./cmd/basicshadow --count 5                # embedded broker, both samples
//	go run ./cmd/basicshadow -m listener              # embedded broker, until Ctrl-C
//	go run ./cmd/basicshadow -e abc-ats.iot.eu-west-1.amazonaws.com \
//	    -r AmazonRootCA1.pem -c device.pem.crt -k device.pem.key -n Bot -m updater
package main

import "github.com/iotmqtt/iotmqtt/internal/samples"

func main() { samples.Main("basicshadow", run) }
