package integration_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
)

// TestDeviceSurvivesACut is the README's harness example, word for word.
func TestDeviceSurvivesACut(t *testing.T) {
	ctx := t.Context()
	b := broker.NewTLS(t) // mutual TLS on 127.0.0.1:0, fresh CA, closed at the end of the test

	// Configure the device exactly as on AWS: endpoint, root CA, key, certificate.
	files := b.ClientFiles() // root-CA.crt, iotmqtt-device.cert.pem, iotmqtt-device.private.key
	cfg := client.DefaultConfig("my-device")
	cfg.ConfigureEndpoint(b.Host(), b.Port())
	cfg.ConfigureCredentials(files.RootCA, files.PrivateKey, files.Cert)
	device, err := client.New(cfg)
	require.NoError(t, err)
	require.NoError(t, device.Connect(ctx))
	t.Cleanup(func() { _ = device.Disconnect(context.Background()) })

	mark := b.Events.Seq()
	b.CutLinks(broker.FIN) // or RST; Refuse/Accept; Blackhole/Restore; CutClient; Restart
	cut, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindFault, After: mark})
	require.NoError(t, err)

	// Wait for what the broker sees next — never sleep.
	ev, err := b.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnect, ClientID: "my-device", After: cut.Seq})
	require.NoError(t, err)
	t.Log("reconnected", ev.At.Sub(cut.At), "after the cut")
}
