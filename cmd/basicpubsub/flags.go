package main

import (
	"flag"
	"io"
	"strings"

	"github.com/iotmqtt/iotmqtt/internal/samples"
)

var allowedActions = []string{"both", "publish", "subscribe"}

// options are the sample's flags.
type options struct {
	samples.Connection
	clientID, topic, mode string
	message               string

	// Go sample only.
	samples.Schedule
	faults   bool
	queueDir string
}

func (o *options) publishes() bool  { return o.mode == "both" || o.mode == "publish" }
func (o *options) subscribes() bool { return o.mode == "both" || o.mode == "subscribe" }

// parseFlags parses the Python sample's flags (each with its short and long
// name) and applies its checks.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("basicpubsub", flag.ContinueOnError)
	o.Connection.Register(fs)
	samples.StringFlag(fs, &o.clientID, "id", "clientId", "basicPubSub", "targeted client id")
	samples.StringFlag(fs, &o.topic, "t", "topic", "sdk/test/Python", "targeted topic")
	samples.StringFlag(fs, &o.mode, "m", "mode", "both", "operation modes: "+strings.Join(allowedActions, ", "))
	samples.StringFlag(fs, &o.message, "M", "message", "Hello World!", "message to publish")
	o.Schedule.Register(fs, "stop after this many messages (0: run until Ctrl-C)",
		"time between publishes; the client's timings scale with it (1s: the seed's exact settings)")
	fs.BoolVar(&o.faults, "faults", false, "embedded broker only: cut the link now and then to show reconnects, queueing and draining, and a restart that loses nothing")
	fs.StringVar(&o.queueDir, "queue-dir", "", "keep the offline queue in this directory, so that it survives a restart (default: in memory; with --faults, a temporary directory)")
	err := samples.Parse(fs, args, stderr, "basicpubsub [-e ENDPOINT -r ROOTCA [-c CERT -k KEY | -w]] [-p PORT] [--region REGION] [-id CLIENTID] [-t TOPIC] [-m MODE] [-M MESSAGE] [--count N] [--queue-dir DIR] [--faults]",
		o.Connection.Check, o.Schedule.Check, samples.Mode(&o.mode, allowedActions...), o.checkFaults)
	if err != nil {
		return nil, err
	}
	return o, nil
}

func (o *options) checkFaults() string {
	if o.faults && o.Endpoint != "" {
		return "--faults needs the embedded broker (no -e/--endpoint)"
	}
	return ""
}
