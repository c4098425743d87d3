package integration_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

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

// TestDeviceBacksOffInVirtualTime is the README's virtual-time example: a
// device's reconnect schedule proved to the nanosecond, in milliseconds.
func TestDeviceBacksOffInVirtualTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) { // one bubble per test (or subtest); no t.Run or t.Parallel inside
		// Everything is created inside the bubble: the broker (on its
		// in-memory network) and the device.
		b := broker.NewTLS(t, broker.WithMemoryNetwork())
		ctx, cancel := context.WithTimeout(t.Context(), time.Hour) // bound every wait; virtual time makes it free
		defer cancel()

		l := b.MTLS()
		files := b.ClientFiles()
		cfg := client.DefaultConfig("my-device")
		cfg.ConfigureEndpoint(l.Host, l.Port)
		cfg.ConfigureCredentials(files.RootCA, files.PrivateKey, files.Cert)
		cfg.ConfigureSocketFactory(l.Proxy.DialContext) // the in-memory network is reached only through the proxy
		cfg.ConfigureAutoReconnectBackoffTime(time.Second, 32*time.Second, 20*time.Second)
		device, err := client.New(cfg)
		require.NoError(t, err)
		require.NoError(t, device.Connect(ctx))
		t.Cleanup(func() { _ = device.Disconnect(context.Background()) })

		mark := b.Events.Seq()
		require.NoError(t, b.SetFault(broker.HangUp, true)) // every attempt is accepted, then closed
		b.CutLinks(broker.FIN)
		cut, err := b.Events.WaitFor(ctx, broker.Match{Fault: broker.FaultCut, After: mark})
		require.NoError(t, err)
		attempts, err := b.Events.WaitForN(ctx, 6, broker.Match{Kind: broker.KindAccept, After: cut.Seq})
		require.NoError(t, err)
		var at []time.Duration
		for _, a := range attempts {
			at = append(at, a.At.Sub(cut.At))
		}
		// Exact, not within a tolerance: 1 s, then doubling waits.
		require.Equal(t, []time.Duration{1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 31 * time.Second, 63 * time.Second}, at)
		require.NoError(t, b.SetFault(broker.HangUp, false))
		synctest.Wait() // before checking an instant at which something else is due
	})
}

// The README shows the examples in this file exactly as they are here.
func TestReadmeShowsTheExamples(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("readme_test.go")
	require.NoError(t, err)
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	for _, name := range []string{"TestDeviceSurvivesACut", "TestDeviceBacksOffInVirtualTime"} {
		start := strings.Index(string(src), "func "+name)
		end := start + strings.Index(string(src[start:]), "\n}\n") + 3
		require.Contains(t, string(readme), string(src[start:end]), "README.md's %s is out of date: copy it from integration/readme_test.go", name)
	}
}
