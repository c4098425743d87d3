package main

import (
	"flag"
	"io"
	"strings"

	"github.com/iotmqtt/iotmqtt/internal/samples"
)

// The modes: the two Python samples, or both at once.
const (
	modeBoth     = "both"
	modeUpdater  = "updater"  // basicShadowUpdater.py
	modeListener = "listener" // basicShadowDeltaListener.py
)

var allowedModes = []string{modeBoth, modeUpdater, modeListener}

// options are the samples' flags.
type options struct {
	samples.Connection
	thingName, clientID string

	// Go sample only.
	mode string
	samples.Schedule
}

func (o *options) updates() bool { return o.mode == modeBoth || o.mode == modeUpdater }
func (o *options) listens() bool { return o.mode == modeBoth || o.mode == modeListener }

// clientIDs returns the client ids of the updater and the listener: the
// Python samples' defaults (basicShadowUpdater, basicShadowDeltaListener),
// or -id for the one mode that runs (-id with both names the updater and
// suffixes the listener).
func (o *options) clientIDs() (updater, listener string) {
	updater, listener = "basicShadowUpdater", "basicShadowDeltaListener"
	switch {
	case o.clientID == "":
	case o.mode == modeUpdater:
		updater = o.clientID
	case o.mode == modeListener:
		listener = o.clientID
	default:
		updater, listener = o.clientID, o.clientID+"-listener"
	}
	return updater, listener
}

// parseFlags parses the Python samples' flags (each with its short and
// long name) and applies their checks.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("basicshadow", flag.ContinueOnError)
	o.Connection.Register(fs)
	samples.StringFlag(fs, &o.thingName, "n", "thingName", "Bot", "targeted thing name")
	samples.StringFlag(fs, &o.clientID, "id", "clientId", "", "targeted client id (default basicShadowUpdater, basicShadowDeltaListener)")
	samples.StringFlag(fs, &o.mode, "m", "mode", modeBoth, "which sample runs: "+strings.Join(allowedModes, ", "))
	o.Schedule.Register(fs, "stop after this many updates (updater, both) or deltas (listener) (0: run until Ctrl-C)",
		"time between updates; the timeouts scale with it (1s: the samples' exact settings)")
	err := samples.Parse(fs, args, stderr, "basicshadow [-e ENDPOINT -r ROOTCA [-c CERT -k KEY | -w]] [-p PORT] [--region REGION] [-n THINGNAME] [-id CLIENTID] [-m MODE] [--count N]",
		o.Connection.Check, o.Schedule.Check, samples.Mode(&o.mode, allowedModes...))
	if err != nil {
		return nil, err
	}
	return o, nil
}
