package samples

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func parse(t *testing.T, args ...string) (Connection, error) {
	t.Helper()
	var c Connection
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	c.Register(fs)
	return c, Parse(fs, args, &bytes.Buffer{}, "sample [-e ENDPOINT]")
}

func TestCheckLikeThePythonSamples(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-e", "h", "-r", "ca", "-w", "-c", "c", "-k", "k"}, "X.509 cert authentication and WebSocket are mutual exclusive. Please pick one."},
		{[]string{"-e", "h", "-r", "ca"}, "Missing credentials for authentication."},
		{[]string{"--endpoint", "h", "--rootCA", "ca", "--cert", "c"}, "Missing credentials for authentication."},
		{[]string{"-e", "h", "-c", "c", "-k", "k"}, "the following arguments are required: -r/--rootCA"},
		{[]string{"-r", "ca"}, "-r, -c and -k need -e/--endpoint (without it the embedded broker brings its own certificates)"},
		{[]string{"-p", "70000"}, "port 70000 is out of range"},
		{[]string{"-e", "h", "-r", "ca", "-c", "c", "-k", "k", "--region", "us-east-1"}, "--region is for -w/--websocket (SigV4 signing)"},
		{[]string{"-e", "h", "-r", "ca", "-c", "c", "-k", "k"}, ""},
		{[]string{"-e", "h", "-r", "ca", "-w"}, ""},
	}
	for _, tt := range tests {
		c, err := parse(t, tt.args...)
		require.NoError(t, err)
		require.Equal(t, tt.want, c.Check(), strings.Join(tt.args, " "))
	}
}

func TestPortDefaults(t *testing.T) {
	c, _ := parse(t, "-e", "h", "-r", "ca", "-c", "c", "-k", "k")
	c.Check()
	require.Equal(t, 8883, c.Port)
	c, _ = parse(t, "--endpoint", "h", "--rootCA", "ca", "--websocket")
	c.Check()
	require.Equal(t, 443, c.Port)
	c, _ = parse(t, "-e", "h", "-r", "ca", "-w", "--port", "8443")
	c.Check()
	require.Equal(t, Connection{Endpoint: "h", RootCA: "ca", Websocket: true, Port: 8443}, c)
}

func TestParseErrors(t *testing.T) {
	_, err := parse(t, "--bogus")
	require.ErrorIs(t, err, ErrUsage)
	require.ErrorContains(t, err, "flag provided but not defined: -bogus")
	_, err = parse(t, "extra", "args")
	require.ErrorIs(t, err, ErrUsage)
	require.ErrorContains(t, err, "unexpected arguments: extra args")
	var help bytes.Buffer
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	new(Connection).Register(fs)
	require.ErrorIs(t, Parse(fs, []string{"-h"}, &help, "sample [-e ENDPOINT]"), flag.ErrHelp)
	require.True(t, strings.HasPrefix(help.String(), "usage: sample [-e ENDPOINT]\n"), help.String())
	require.Contains(t, help.String(), "your AWS IoT custom endpoint")

	var stderr bytes.Buffer
	mode := "sideways"
	fs = flag.NewFlagSet("prog", flag.ContinueOnError)
	checked := false
	err = Parse(fs, nil, &stderr, "prog", Mode(&mode, "up", "down"), func() string { checked = true; return "" })
	require.ErrorIs(t, err, ErrUsage)
	require.Equal(t, "prog: error: Unknown --mode option sideways. Must be one of [up down]\n", stderr.String(), "as argparse prints it")
	require.False(t, checked, "the first problem stops the checks")
	mode = "up"
	require.NoError(t, Parse(flag.NewFlagSet("prog", flag.ContinueOnError), nil, &stderr, "prog", Mode(&mode, "up", "down")))
}

func TestConfigureForAnEndpoint(t *testing.T) {
	c := Connection{Endpoint: "abc-ats.iot.eu-west-1.amazonaws.com", RootCA: "ca.pem", Cert: "c.pem", Key: "k.pem", Port: 8883}
	cfg := client.DefaultConfig("id")
	c.Configure(&cfg, nil, nil)
	require.Equal(t, "abc-ats.iot.eu-west-1.amazonaws.com", cfg.Host)
	require.Equal(t, 8883, cfg.Port)
	require.Equal(t, []string{"ca.pem", "k.pem", "c.pem"}, []string{cfg.CAFile, cfg.KeyFile, cfg.CertFile})
	require.Nil(t, cfg.Dialer)
	require.False(t, cfg.UseWebsocket)

	c = Connection{Endpoint: "localhost", RootCA: "ca.pem", Port: 8443, Websocket: true, Region: "eu-west-1"}
	cfg = client.DefaultConfig("id")
	c.Configure(&cfg, nil, nil)
	require.True(t, cfg.UseWebsocket)
	require.Equal(t, "eu-west-1", cfg.Region, "--region signs for a name that carries none")
}

// The embedded broker: mutual TLS through the proxy with its credentials,
// or, with -w, WebSocket signed with the environment's credentials.
func TestStartEmbeddedAndConfigure(t *testing.T) {
	var said []string
	say := func(format string, _ ...any) { said = append(said, format) }
	b, dial, err := StartEmbedded(context.Background(), "Bot", false, say)
	require.NoError(t, err)
	defer b.Close()
	require.Contains(t, said[0], "mutual TLS")
	require.Equal(t, "Bot", b.ClientCertificate().Cert.Subject.CommonName)
	var c Connection
	cfg := client.DefaultConfig("Bot")
	c.Configure(&cfg, b, dial)
	require.Equal(t, b.MTLS().Port, cfg.Port)
	require.Equal(t, b.ClientFiles().Cert, cfg.CertFile)
	require.NotNil(t, cfg.Dialer)
	ctx := context.Background()
	device, err := client.New(cfg)
	require.NoError(t, err)
	require.NoError(t, device.Connect(ctx))
	require.NoError(t, device.Disconnect(ctx))

	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDSAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "sample-secret")
	ws, dial, err := StartEmbedded(ctx, "Bot", true, say)
	require.NoError(t, err)
	defer ws.Close()
	require.Contains(t, said[1], "WebSocket (SigV4)")
	c = Connection{Websocket: true}
	cfg = client.DefaultConfig("Bot-ws")
	c.Configure(&cfg, ws, dial)
	require.Equal(t, "localhost", cfg.Host)
	require.Equal(t, 443, cfg.Port)
	require.True(t, cfg.UseWebsocket)
	require.Empty(t, cfg.CertFile)
	device, err = client.New(cfg)
	require.NoError(t, err)
	require.NoError(t, device.Connect(ctx))
	require.NoError(t, device.Disconnect(ctx))
}

func TestStartEmbeddedWebSocketNeedsCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	_, _, err := StartEmbedded(context.Background(), "Bot", true, func(string, ...any) {})
	require.ErrorContains(t, err, "AWS_ACCESS_KEY_ID")
}

func TestSchedule(t *testing.T) {
	var s Schedule
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	s.Register(fs, "count", "interval")
	require.NoError(t, Parse(fs, nil, &bytes.Buffer{}, "sample"))
	require.Equal(t, Schedule{Interval: time.Second}, s, "defaults: no count, 1 s")
	require.Empty(t, s.Check())
	require.Equal(t, "--count must not be negative", (&Schedule{Count: -1, Interval: 1}).Check())
	require.Equal(t, "--interval must be positive", (&Schedule{}).Check())
}

// The exit codes of the Python samples: 2 for a usage error, 1 (and the
// error printed) for others.
func TestExitCodes(t *testing.T) {
	var stderr bytes.Buffer
	require.Zero(t, exitCode("sample", nil, &stderr))
	require.Zero(t, exitCode("sample", flag.ErrHelp, &stderr))
	require.Equal(t, 2, exitCode("sample", fmt.Errorf("%w: bad flag", ErrUsage), &stderr))
	require.Empty(t, stderr.String(), "a usage error was printed already")
	require.Equal(t, 1, exitCode("sample", errors.New("no route"), &stderr))
	require.Equal(t, "sample: no route\n", stderr.String())
}

func TestSleepStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.False(t, Sleep(ctx, 1<<40))
	require.True(t, Sleep(context.Background(), 1))
}
