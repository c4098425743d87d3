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

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/iotmqtt/iotmqtt/internal/samples"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, samples.ErrUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "basicshadow:", err)
		os.Exit(1)
	}
}
