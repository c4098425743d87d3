// Command basicpubsub is AWS's basicPubSub sample in Go: it connects, subscribes
// to a topic with QoS 1, and publishes {"message": ..., "sequence": n} to it
// every second, printing every message it receives.
//
// It takes the Python sample's flags. Without -e/--endpoint it starts the
// embedded broker with fresh certificates and runs against it; --faults then
// cuts the link now and then, and the log shows the client going offline,
// queueing, backing off, reconnecting, renewing its subscription and
// draining the queue at 2 Hz.
//
//	go run ./cmd/basicpubsub                      # embedded broker, until Ctrl-C
//	go run ./cmd/basicpubsub --faults --count 20  # the fault demo, 20 messages
//	go run ./cmd/basicpubsub -e abc-ats.iot.eu-west-1.amazonaws.com \
//	    -r AmazonRootCA1.pem -c device.pem.crt -k device.pem.key
package main

import "github.com/iotmqtt/iotmqtt/internal/samples"

func main() { samples.Main("basicpubsub", run) }
