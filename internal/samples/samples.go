// Package samples holds what the Go ports of AWS's Python samples in cmd/
// share: the samples' connection flags and their checks, the embedded
// broker they run on when no endpoint is given, and the client
// configuration for either.
package samples

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/client/awschain"
)

// ErrUsage marks a command-line error (exit code 2, as the Python samples'
// argparse).
var ErrUsage = errors.New("usage error")

// Main runs a sample until it returns or Ctrl-C (SIGINT, SIGTERM) ends its
// context, and exits as the Python samples do: 2 for a usage error, 1 for
// another error (printed as "<prog>: <error>"), 0 otherwise.
func Main(prog string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(prog, err, os.Stderr))
}

// exitCode returns the exit code for run's result, printing an error that
// is not a usage error.
func exitCode(prog string, err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", prog, err)
	return 1
}

// Connection is where a sample connects: the Python samples' -e, -r, -c,
// -k, -p and -w. No endpoint means the embedded broker.
type Connection struct {
	Endpoint, RootCA, Cert, Key string
	Port                        int
	Websocket                   bool
	Region                      string // SigV4 region for -w when the endpoint's name has none
}

// StringFlag registers a string flag under a short and a long name, as the
// samples' argparse options have.
func StringFlag(fs *flag.FlagSet, p *string, short, long, def, usage string) {
	fs.StringVar(p, short, def, usage)
	fs.StringVar(p, long, def, usage)
}

// Register registers the connection flags on fs.
func (c *Connection) Register(fs *flag.FlagSet) {
	StringFlag(fs, &c.Endpoint, "e", "endpoint", "", "your AWS IoT custom endpoint (default: start the embedded broker)")
	StringFlag(fs, &c.RootCA, "r", "rootCA", "", "root CA file path")
	StringFlag(fs, &c.Cert, "c", "cert", "", "certificate file path")
	StringFlag(fs, &c.Key, "k", "key", "", "private key file path")
	fs.IntVar(&c.Port, "p", 0, "port number override (default 8883; 443 with -w)")
	fs.IntVar(&c.Port, "port", 0, "port number override (default 8883; 443 with -w)")
	fs.BoolVar(&c.Websocket, "w", false, "use MQTT over WebSocket")
	fs.BoolVar(&c.Websocket, "websocket", false, "use MQTT over WebSocket")
	fs.StringVar(&c.Region, "region", "", "with -w: the AWS region to sign for (default: from an AWS endpoint's name; needed for others, such as iotbroker on localhost)")
}

// Schedule is how long a sample runs and at what pace: the Go samples'
// --count and --interval.
type Schedule struct {
	Count    int
	Interval time.Duration
}

// Register registers --count and --interval (default 1 s) on fs.
func (s *Schedule) Register(fs *flag.FlagSet, countUsage, intervalUsage string) {
	fs.IntVar(&s.Count, "count", 0, countUsage)
	fs.DurationVar(&s.Interval, "interval", time.Second, intervalUsage)
}

// Check returns what is wrong with the schedule, or "".
func (s *Schedule) Check() string {
	switch {
	case s.Count < 0:
		return "--count must not be negative"
	case s.Interval <= 0:
		return "--interval must be positive"
	}
	return ""
}

// Parse parses args with fs, then runs checks in order, each returning
// what is wrong or "". -h prints usage and the flags' defaults and is
// flag.ErrHelp; a flag error, extra arguments or a failed check is printed
// as argparse does ("<prog>: error: <problem>") and is ErrUsage.
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer, usage string, checks ...func() string) error {
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage:", usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return usageError(stderr, fs.Name(), "unexpected arguments: "+strings.Join(fs.Args(), " "))
	}
	for _, check := range checks {
		if problem := check(); problem != "" {
			return usageError(stderr, fs.Name(), problem)
		}
	}
	return nil
}

// Mode checks a --mode flag as the Python samples do.
func Mode(mode *string, allowed ...string) func() string {
	return func() string {
		if slices.Contains(allowed, *mode) {
			return ""
		}
		return fmt.Sprintf("Unknown --mode option %s. Must be one of %v", *mode, allowed)
	}
}

// Check applies the samples' checks to the connection flags (with the
// Python samples' messages), then the port's default: 8883, or 443 with
// -w. It returns the problem, or "".
func (c *Connection) Check() string {
	switch {
	case c.Websocket && c.Cert != "" && c.Key != "":
		return "X.509 cert authentication and WebSocket are mutual exclusive. Please pick one."
	case c.Endpoint != "" && !c.Websocket && (c.Cert == "" || c.Key == ""):
		return "Missing credentials for authentication."
	case c.Endpoint != "" && c.RootCA == "":
		return "the following arguments are required: -r/--rootCA"
	case c.Endpoint == "" && (c.RootCA != "" || c.Cert != "" || c.Key != ""):
		return "-r, -c and -k need -e/--endpoint (without it the embedded broker brings its own certificates)"
	case c.Port < 0 || c.Port > 65535:
		return fmt.Sprintf("port %d is out of range", c.Port)
	case c.Region != "" && !c.Websocket:
		return "--region is for -w/--websocket (SigV4 signing)"
	}
	if c.Port == 0 {
		c.Port = 8883
		if c.Websocket {
			c.Port = 443
		}
	}
	return ""
}

// usageError prints "<prog>: error: <problem>" as argparse does and returns
// an error wrapping ErrUsage.
func usageError(stderr io.Writer, prog, problem string) error {
	fmt.Fprintf(stderr, "%s: error: %s\n", prog, problem)
	return fmt.Errorf("%w: %s", ErrUsage, problem)
}

// StartEmbedded starts the embedded broker for a sample whose device
// certificate names thingName, and returns the socket factory that reaches
// the listener the sample uses: mutual TLS, or, with websocket, WebSocket
// accepting the AWS credentials found in the environment. say reports
// where it listens.
func StartEmbedded(ctx context.Context, thingName string, websocket bool, say func(format string, args ...any), opts ...broker.Option) (*broker.Broker, client.DialFunc, error) {
	opts = append(opts, broker.WithThingName(thingName))
	if websocket {
		creds, err := awschain.Provider().Retrieve(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("-w with the embedded broker signs with the AWS credentials of the environment "+
				"(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, any values will do), and found none: %w", err)
		}
		opts = append(opts, broker.WithWebSocket(map[string]string{creds.AccessKeyID: creds.SecretAccessKey}))
	}
	b, err := broker.StartTLS(opts...)
	if err != nil {
		return nil, nil, err
	}
	if websocket {
		say("no --endpoint: started the embedded broker; WebSocket (SigV4) on %s, presented as wss://localhost:443/mqtt", b.WebSocket().Addr)
		return b, b.WebSocket().Proxy.DialContext, nil
	}
	say("no --endpoint: started the embedded broker on %s (mutual TLS; fresh CA and device certificate %s)", b.MTLS().Addr, b.ClientFiles().Cert)
	return b, b.MTLS().Proxy.DialContext, nil
}

// Configure points cfg at the connection's endpoint with its credentials,
// as the Python samples do, or, with b, at the embedded broker through
// dial (StartEmbedded's socket factory) with b's credentials.
func (c *Connection) Configure(cfg *client.Config, b *broker.Broker, dial client.DialFunc) {
	host, port := c.Endpoint, c.Port
	rootCAPath, certificatePath, privateKeyPath := c.RootCA, c.Cert, c.Key
	if b != nil {
		files := b.ClientFiles()
		host, port = b.MTLS().Host, b.MTLS().Port
		rootCAPath, certificatePath, privateKeyPath = files.RootCA, files.Cert, files.PrivateKey
		if c.Websocket {
			host, port, certificatePath, privateKeyPath = "localhost", 443, "", ""
		}
		cfg.Region = "us-east-1" // the embedded broker's name says no region
		cfg.ConfigureSocketFactory(dial)
	}
	if c.Region != "" {
		cfg.Region = c.Region
	}
	cfg.UseWebsocket = c.Websocket
	if c.Websocket {
		cfg.Credentials = awschain.Provider() // the AWS credentials of the environment, as the Python samples
	}
	cfg.ConfigureEndpoint(host, port)
	cfg.ConfigureCredentials(rootCAPath, privateKeyPath, certificatePath)
}

// Sleep waits d or until ctx ends (then it returns false).
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
