package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/iotmqtt/iotmqtt/internal/cli"
)

var allowedActions = []string{"both", "publish", "subscribe"}

// options are the sample's flags.
type options struct {
	endpoint, rootCA, cert, key string
	port                        int
	websocket                   bool
	clientID, topic, mode       string
	message                     string
	region                      string // SigV4 region for -w when the endpoint's name has none

	// Go sample only.
	count    int
	faults   bool
	interval time.Duration
}

func (o *options) publishes() bool  { return o.mode == "both" || o.mode == "publish" }
func (o *options) subscribes() bool { return o.mode == "both" || o.mode == "subscribe" }

// parseFlags parses the Python sample's flags (each with its short and long
// name) and applies its checks.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("basicpubsub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	str := func(p *string, short, long, def, usage string) {
		fs.StringVar(p, short, def, usage)
		fs.StringVar(p, long, def, usage)
	}
	str(&o.endpoint, "e", "endpoint", "", "your AWS IoT custom endpoint (default: start the embedded broker)")
	str(&o.rootCA, "r", "rootCA", "", "root CA file path")
	str(&o.cert, "c", "cert", "", "certificate file path")
	str(&o.key, "k", "key", "", "private key file path")
	fs.IntVar(&o.port, "p", 0, "port number override (default 8883; 443 with -w)")
	fs.IntVar(&o.port, "port", 0, "port number override (default 8883; 443 with -w)")
	fs.BoolVar(&o.websocket, "w", false, "use MQTT over WebSocket")
	fs.BoolVar(&o.websocket, "websocket", false, "use MQTT over WebSocket")
	str(&o.clientID, "id", "clientId", "basicPubSub", "targeted client id")
	str(&o.topic, "t", "topic", "sdk/test/Python", "targeted topic")
	str(&o.mode, "m", "mode", "both", "operation modes: "+strings.Join(allowedActions, ", "))
	str(&o.message, "M", "message", "Hello World!", "message to publish")
	fs.StringVar(&o.region, "region", "", "with -w: the AWS region to sign for (default: from an AWS endpoint's name; needed for others, such as iotbroker on localhost)")
	fs.IntVar(&o.count, "count", 0, "stop after this many messages (0: run until Ctrl-C)")
	fs.BoolVar(&o.faults, "faults", false, "embedded broker only: cut the link now and then to show reconnects, queueing and draining")
	fs.DurationVar(&o.interval, "interval", time.Second, "time between publishes; the client's timings scale with it (1s: the seed's exact settings)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: basicpubsub [-e ENDPOINT -r ROOTCA [-c CERT -k KEY | -w]] [-p PORT] [--region REGION] [-id CLIENTID] [-t TOPIC] [-m MODE] [-M MESSAGE] [--count N] [--faults]")
		fs.PrintDefaults()
	}
	if err := cli.Parse(fs, args, stderr); err != nil {
		return nil, err
	}
	switch {
	case o.websocket && o.cert != "" && o.key != "":
		return nil, usageError(stderr, "X.509 cert authentication and WebSocket are mutual exclusive. Please pick one.")
	case o.endpoint != "" && !o.websocket && (o.cert == "" || o.key == ""):
		return nil, usageError(stderr, "Missing credentials for authentication.")
	case o.endpoint != "" && o.rootCA == "":
		return nil, usageError(stderr, "the following arguments are required: -r/--rootCA")
	case o.endpoint == "" && (o.rootCA != "" || o.cert != "" || o.key != ""):
		return nil, usageError(stderr, "-r, -c and -k need -e/--endpoint (without it the embedded broker brings its own certificates)")
	case !slices.Contains(allowedActions, o.mode):
		return nil, usageError(stderr, "Unknown --mode option %s. Must be one of %v", o.mode, allowedActions)
	case o.port < 0 || o.port > 65535:
		return nil, usageError(stderr, "port %d is out of range", o.port)
	case o.count < 0:
		return nil, usageError(stderr, "--count must not be negative")
	case o.interval <= 0:
		return nil, usageError(stderr, "--interval must be positive")
	case o.region != "" && !o.websocket:
		return nil, usageError(stderr, "--region is for -w/--websocket (SigV4 signing)")
	case o.faults && o.endpoint != "":
		return nil, usageError(stderr, "--faults needs the embedded broker (no -e/--endpoint)")
	}
	if o.port == 0 {
		o.port = 8883
		if o.websocket {
			o.port = 443
		}
	}
	return o, nil
}

func usageError(stderr io.Writer, format string, args ...any) error {
	return cli.UsageError(stderr, "basicpubsub", format, args...)
}
