package main

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/internal/samples"
)

func TestFlagErrorsNameTheProblem(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--dir", ""}, "--dir must not be empty"},
		{[]string{"--thing", "a/b"}, `--thing "a/b": a thing name is 1-128 letters`},
		{[]string{"--host", "https://x.example"}, `--host "https://x.example": give a bare host name`},
		{[]string{"--host", "x.example:8883"}, "without scheme or port"},
		{[]string{"--profile", "greengrass"}, `--profile "greengrass": the profiles are aws, mqtt`},
		{[]string{"--connect-interval", "-1s"}, "--connect-interval -1s must not be negative"},
		{[]string{"--profile", "mqtt", "--connect-interval", "0s"}, "--connect-interval is AWS IoT Core's connect throttle: it needs --profile aws"},
		{[]string{"--set", "SubscribeQoS2"}, `--set "SubscribeQoS2": give Field=value`},
		{[]string{"--set", "SubscribeQoS2=Maybe"}, `--set "SubscribeQoS2=Maybe": broker: Profile.SubscribeQoS2="Maybe": a reaction is one of`},
		{[]string{"--set", "Shadowy=1"}, `Profile has no field "Shadowy"`},
		{[]string{"--set", "EarlyPackets=Hang"}, "--set: broker: Profile.EarlyPackets is Hang; it must be one of [Close Accept]"},
		{[]string{"--profile", "mqtt", "--set", "EarlyPackets=Accept"}, "--set changes the AWS IoT Core profile: it needs --profile aws"},
		{[]string{"--mtls", ""}, "--mtls must not be empty"},
		{[]string{"--mtls", "8883"}, `--mtls "8883": not host:port`},
		{[]string{"--tcp", "127.0.0.1:http"}, `--tcp "127.0.0.1:http": port "http" is not a number`},
		{[]string{"--alpn", "127.0.0.1:70000"}, `port "70000" is not a number from 0 to 65535`},
		{[]string{"--alpn", "127.0.0.1:443", "--wss", "127.0.0.1:443", "--ws-access-key-id", "a", "--ws-secret-access-key", "b"}, "--alpn and --wss both ask for 127.0.0.1:443: one port serves one listener"},
		{[]string{"--control", "0.0.0.0:9883"}, "the control API has no authentication, so it listens on loopback only"},
		{[]string{"--control", ":9883"}, "loopback only"},
		{[]string{"--wss", "127.0.0.1:8443"}, "--wss needs the credentials it accepts: --ws-access-key-id and --ws-secret-access-key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{[]string{"--wss", "127.0.0.1:8443", "--ws-access-key-id", "a"}, "--wss needs the credentials"},
		{[]string{"--custom-auth-password", "pw"}, "--custom-auth-password needs --alpn"},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"extra"}, "unexpected arguments: extra"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), tt.args, &bytes.Buffer{}, &stderr)
			require.ErrorIs(t, err, samples.ErrUsage, "exit code 2")
			require.Contains(t, err.Error()+stderr.String(), tt.want)
		})
	}
	err := run(context.Background(), []string{"-h"}, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorIs(t, err, flag.ErrHelp, "exit code 0")
}

func TestFlagDefaultsAndLists(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
	o, err := parseFlags(nil, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, options{dir: defaultDir, things: []string{defaultThing}, profile: profileAWS, shadow: true, connectInterval: time.Second, mtls: defaultMTLS, control: defaultControl}, *o,
		"loopback 8883, no other listener, no WebSocket credentials read without --wss")

	o, err = parseFlags([]string{"--thing", "a,b", "--thing", "c", "--host", "x-ats.iot.eu-west-1.amazonaws.com, 10.0.0.1", "--wss", "127.0.0.1:8443"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, []string{"a", "b", "c"}, o.things)
	require.Equal(t, []string{"x-ats.iot.eu-west-1.amazonaws.com", "10.0.0.1"}, o.hosts)
	require.Equal(t, "AKIDENV", o.wsKeyID, "from the environment")
	require.Equal(t, "env-secret", o.wsSecret)

	o, err = parseFlags([]string{"--wss", "127.0.0.1:8443", "--ws-access-key-id", "AKIDFLAG", "--ws-secret-access-key", "flag-secret"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, "AKIDFLAG", o.wsKeyID, "the flag wins")
	require.Equal(t, "flag-secret", o.wsSecret)
}
