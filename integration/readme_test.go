package integration_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
)

// TestDeviceSurvivesACut is the README's harness example, word for word.
func TestDeviceSurvivesACut(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := broker.NewTLS(t) // mutual TLS on 127.0.0.1:0, fresh CA, closed at the end of the test

	// Configure the device exactly as on AWS: endpoint, root CA, key, certificate.
	l := b.MTLS()            // Host "localhost" (the server certificate's name), Port, Proxy
	files := b.ClientFiles() // root-CA.crt, iotmqtt-device.cert.pem, iotmqtt-device.private.key
	cfg := client.DefaultConfig("my-device")
	cfg.ConfigureEndpoint(l.Host, l.Port)
	cfg.ConfigureCredentials(files.RootCA, files.PrivateKey, files.Cert)
	cfg.ConfigureSocketFactory(l.Proxy.DialContext) // the wire goes through the fault proxy
	device, err := client.New(cfg)
	require.NoError(t, err)
	require.NoError(t, device.Connect(ctx))
	t.Cleanup(func() { _ = device.Disconnect(context.Background()) })

	mark := b.Events.Seq()
	b.CutLinks(broker.FIN) // or RST; b.SetFault(broker.Blackhole, true); CutClient; Restart…
	cut, err := b.Events.WaitFor(ctx, broker.Match{Fault: broker.FaultCut, After: mark})
	require.NoError(t, err)

	// Wait for what the broker sees next — never sleep.
	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "my-device", After: cut.Seq})
	require.NoError(t, err)
	t.Log("reconnected", ev.At.Sub(cut.At), "after the cut")
}

// The README shows TestDeviceSurvivesACut exactly as it is here.
func TestReadmeShowsTheHarnessExample(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("readme_test.go")
	require.NoError(t, err)
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	start := strings.Index(string(src), "func TestDeviceSurvivesACut")
	end := strings.Index(string(src), "\n}\n") + 3
	require.Contains(t, string(readme), string(src[start:end]), "README.md's harness example is out of date: copy it from integration/readme_test.go")
}
