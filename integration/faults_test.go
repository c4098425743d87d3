package integration_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/certs"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// A blackholed link (sockets open, nothing flows) is noticed by keepalive,
// and the client reconnects once traffic flows again.
func TestBlackholeIsDetectedByKeepalive(t *testing.T) { scenario(t, blackholeDetectedByKeepalive) }

func blackholeDetectedByKeepalive(t *testing.T, e *env) {
	ctx := testenv.Context(t)
	cfg := e.config("blackhole")
	cfg.KeepAlive = time.Second
	cfg.PingTimeout = 500 * time.Millisecond
	offline := make(chan error, 4)
	cfg.OnOffline = func(err error) { offline <- err }
	c := e.connect(cfg)
	e.settle()

	mark := e.Events.Seq()
	require.NoError(t, e.Proxy.SetFault(broker.Blackhole, true))
	start := time.Now()
	cause := testenv.Receive(t, ctx, offline, "the dead link noticed")
	detected := time.Since(start)
	t.Logf("blackhole noticed after %v: %v", detected.Round(time.Millisecond), cause)
	require.ErrorContains(t, cause, "pingresp not received")
	if e.virtual {
		// paho checks every keepalive/4: the PINGREQ goes at 1 s of
		// silence, and the link is given up 500 ms later.
		require.Equal(t, 1500*time.Millisecond, detected)
	} else {
		require.Less(t, detected, 5*time.Second, "keepalive 1 s + ping timeout 0.5 s")
	}
	require.NoError(t, e.Proxy.SetFault(broker.Blackhole, false))
	testenv.WaitStatus(t, c, client.StatusStable)
	_, err := e.Events.WaitFor(ctx, broker.Match{Kind: broker.KindAccept, After: mark})
	require.NoError(t, err, "it reconnected with a new connection")
}

// A refused CONNACK is an error that carries the return code; the broker saw
// the CONNECT and answered it, and nothing else.
func TestRefusedConnack(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.embedded("refuse the CONNECT with a chosen return code")
	ctx := testenv.Context(t)
	require.NoError(t, e.Broker.SetFault(broker.RejectConnect(4), true))
	c, err := client.New(e.config("refused"))
	require.NoError(t, err)
	err = c.Connect(ctx)
	var ce *client.ConnectError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, byte(4), ce.ReturnCode)
	require.ErrorContains(t, err, "bad user name or password")

	id := e.clientID("refused")
	ack, err := e.Events.WaitFor(ctx, broker.Match{Kind: broker.KindConnack, ClientID: id})
	require.NoError(t, err)
	require.Equal(t, byte(4), ack.ReturnCode)
	require.Equal(t, 1, e.Events.Count(broker.Match{Kind: broker.KindConnect, ClientID: id}), "one attempt, no retry")
	require.Zero(t, e.Events.Count(broker.Match{Kind: broker.KindSubscribe, ClientID: id}))
}

// An expired device certificate is refused in the TLS handshake; the error
// says so, and the broker recorded why.
func TestExpiredCertificate(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.embedded("issue an expired certificate from the broker's CA")
	ctx := testenv.Context(t)
	expired, err := e.Broker.CA.IssueClient("old-device", certs.Expired())
	require.NoError(t, err)
	files, err := certs.WriteDeviceFiles(t.TempDir(), "old-device", e.Broker.CA, expired)
	require.NoError(t, err)
	cfg := e.config("expired")
	cfg.ConfigureCredentials(files.RootCA, files.PrivateKey, files.Cert)
	c, err := client.New(cfg)
	require.NoError(t, err, "expiry is the server's call, as on AWS")
	mark := e.Events.Seq()
	err = c.Connect(ctx)
	require.ErrorContains(t, err, "expired certificate")
	f, err := e.Events.WaitFor(ctx, broker.Match{Kind: broker.KindTLSFailure, After: mark})
	require.NoError(t, err)
	require.Contains(t, f.Cause, "expired")
	require.Zero(t, e.Events.Count(broker.Match{Kind: broker.KindConnect, After: mark}))
}

// A device that trusts the wrong root CA refuses the endpoint; the error
// says why. Against the embedded broker, the broker saw the device abort.
func TestWrongRootCA(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := testenv.Context(t)
	other, err := certs.NewCA()
	require.NoError(t, err)
	dev, err := other.IssueClient("x")
	require.NoError(t, err)
	files, err := certs.WriteDeviceFiles(t.TempDir(), "x", other, dev)
	require.NoError(t, err)
	cfg := e.config("wrongca")
	cfg.ConfigureCredentials(files.RootCA, e.Files.PrivateKey, e.Files.Cert)
	c, err := client.New(cfg)
	require.NoError(t, err)
	mark := e.Events.Seq()
	err = c.Connect(ctx)
	require.ErrorContains(t, err, "certificate signed by unknown authority")
	_, err = e.Events.WaitFor(ctx, broker.Match{Kind: broker.KindAccept, After: mark})
	require.NoError(t, err, "the attempt reached the endpoint")
	if e.Broker != nil {
		f, err := e.Events.WaitFor(ctx, broker.Match{Kind: broker.KindTLSFailure, After: mark})
		require.NoError(t, err)
		require.Contains(t, f.Cause, "bad certificate")
	}
}

// No QoS 1 message is lost across 12 random cuts in a stream of 500:
// every payload arrives at least once.
func TestNoLossAcrossRandomCuts(t *testing.T) { scenario(t, noLossAcrossRandomCuts) }

func noLossAcrossRandomCuts(t *testing.T, e *env) {
	ctx := testenv.Context(t)
	const messages, cuts = 500, 12
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("random seed %d", seed)

	topic := e.topic("stream")
	seen := e.observe(topic)
	cfg := e.config("stream")
	cfg.ConfigureAutoReconnectBackoffTime(10*time.Millisecond, 50*time.Millisecond, time.Second)
	cfg.ConfigureDrainingFrequency(500)
	c := e.connect(cfg)

	// The cutter cuts at random points of the stream, paced by what has
	// arrived, not by time.
	cutterDone := make(chan error, 1)
	go func() {
		for i := range cuts {
			at := (i+1)*messages/(cuts+2) + rng.IntN(messages/(cuts+2))
			if _, err := seen.waitN(ctx, at); err != nil {
				cutterDone <- err
				return
			}
			mode := broker.FIN
			if rng.IntN(2) == 0 {
				mode = broker.RST
			}
			e.Proxy.CutLinks(mode)
		}
		cutterDone <- nil
	}()

	queued := 0
	for i := range messages {
		out, err := c.Publish(ctx, topic, []byte(strconv.Itoa(i)), client.QoS1)
		require.NoError(t, err, "message %d", i)
		if out != client.Sent {
			queued++
		}
	}
	require.NoError(t, <-cutterDone)
	testenv.WaitStatus(t, c, client.StatusStable)
	// A last marker after the stream: once it is there, so is everything
	// the client had accepted before it.
	_, err := c.Publish(ctx, topic, []byte("end"), client.QoS1)
	require.NoError(t, err)
	require.NoError(t, waitFor(ctx, seen, "end"))

	unique := map[string]bool{}
	for _, a := range seen.all() {
		unique[a.payload] = true
	}
	var missing []string
	for i := range messages {
		if !unique[strconv.Itoa(i)] {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	cutCount := e.Events.Count(broker.Match{Fault: broker.FaultCut})
	t.Logf("%d messages, %d cuts, %d arrivals (%d duplicates), %d publishes went through the offline queue",
		messages, cutCount, len(seen.all())-1, len(seen.all())-1-messages, queued)
	require.Empty(t, missing, "lost messages")
	require.Equal(t, cuts, cutCount)
}

// waitFor waits until payload has arrived.
func waitFor(ctx context.Context, o observer, payload string) error {
	for n := 1; ; n++ {
		got, err := o.waitN(ctx, n)
		if err != nil {
			return err
		}
		if got[n-1].payload == payload {
			return nil
		}
	}
}
