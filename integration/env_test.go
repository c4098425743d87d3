package integration_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

var (
	endpoint    = flag.String("endpoint", "", "run the scenarios against this MQTT broker host instead of the embedded one")
	port        = flag.Int("port", 8883, "port of -endpoint")
	rootCA      = flag.String("rootCA", "", "root CA file for -endpoint")
	certFile    = flag.String("cert", "", "device certificate file for -endpoint")
	keyFile     = flag.String("key", "", "device private key file for -endpoint")
	clientID    = flag.String("clientId", "iotmqtt-it", "prefix of the client ids the scenarios use (the endpoint's policy must allow it)")
	topicPrefix = flag.String("topicPrefix", "sdk/test/iotmqtt", "prefix of the topics the scenarios use (the endpoint's policy must allow it)")
	realtime    = flag.Bool("realtime", false, "run TestRealtimeSchedule with the seed's exact settings")
	isAWS       = flag.Bool("aws", false, "the -endpoint is AWS IoT Core: run the AWS-only scenarios (the profile's behaviours, the Device Shadow)")
)

// awsOnly skips a scenario about AWS IoT Core's own behaviour when the
// -endpoint is another broker (-aws not given), saying why.
func awsOnly(t *testing.T, why string) {
	t.Helper()
	if *endpoint != "" && !*isAWS {
		t.Skipf("skipped against -endpoint %s: %s; add -aws if it is AWS IoT Core", *endpoint, why)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is where a scenario runs: the embedded broker, or a real endpoint
// behind a fault proxy (the -endpoint flags).
type env struct {
	*testenv.Target
	t   *testing.T
	run string // unique per test, for client ids and topics
	// virtual: the scenario runs in a testing/synctest bubble, on the
	// broker's in-memory network, where its timing is exact.
	virtual bool
}

// scenario runs body with a fresh env. Against the embedded broker it runs
// in a testing/synctest bubble, on the broker's in-memory network, so the
// client's timing is exact (e.virtual) and minutes of schedule take
// milliseconds; against -endpoint, on real sockets and the real clock (a
// real broker has no bubble), with tolerances.
func scenario(t *testing.T, body func(t *testing.T, e *env), opts ...broker.Option) {
	t.Helper()
	if *endpoint != "" {
		body(t, setup(t, opts...))
		return
	}
	synctest.Test(t, func(t *testing.T) {
		e := setup(t, append(opts, broker.WithMemoryNetwork())...)
		e.virtual = true
		body(t, e)
	})
}

func setup(t *testing.T, opts ...broker.Option) *env {
	t.Helper()
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	e := &env{t: t, run: hex.EncodeToString(suffix[:])}
	if *endpoint == "" {
		e.Target = testenv.NewEmbedded(t, opts...)
		return e
	}
	e.Target = testenv.NewExternal(t, testenv.Endpoint{Host: *endpoint, Port: *port, RootCA: *rootCA, Cert: *certFile, Key: *keyFile})
	return e
}

// embedded skips a scenario that needs broker-side hooks when running
// against a real endpoint, saying why.
func (e *env) embedded(why string) {
	e.t.Helper()
	if e.Broker == nil {
		e.t.Skipf("skipped against -endpoint %s: needs the embedded broker to %s", *endpoint, why)
	}
}

// settle waits, in virtual time, until everything under way has happened
// (synctest.Wait); on real sockets there is no such instant, and it
// returns at once.
func (e *env) settle() {
	if e.virtual {
		synctest.Wait()
	}
}

func (e *env) clientID(name string) string { return fmt.Sprintf("%s-%s-%s", *clientID, name, e.run) }
func (e *env) topic(name string) string    { return fmt.Sprintf("%s/%s/%s", *topicPrefix, e.run, name) }

// config configures a device for the endpoint, as a device is configured for
// AWS, dialling through the fault proxy, with scaled timings (back-off
// 100 ms, 800 ms, 1 s).
func (e *env) config(name string) client.Config {
	cfg := e.Config(e.clientID(name))
	testenv.Scale(&cfg, 100*time.Millisecond)
	return cfg
}

func (e *env) connect(cfg client.Config) *client.Client { return testenv.Connect(e.t, cfg) }

// goOffline cuts the device's link while new connections are hung up on,
// and waits until the client knows.
func (e *env) goOffline(c *client.Client) {
	e.t.Helper()
	require.NoError(e.t, e.Proxy.SetFault(broker.HangUp, true))
	e.Proxy.CutLinks(broker.FIN)
	testenv.WaitStatus(e.t, c, client.StatusConnecting)
}

// arrival is a message seen at the broker (embedded) or at a directly
// connected observer (real endpoint).
type arrival struct {
	payload string
	at      time.Time
}

// observer collects the publishes to one topic.
type observer interface {
	// waitN returns the first n arrivals since the observer started.
	waitN(ctx context.Context, n int) ([]arrival, error)
	// all returns every arrival so far.
	all() []arrival
}

// observe starts watching topic. Against the embedded broker it reads the
// broker's recorder (time of receipt at the broker); against a real
// endpoint it subscribes a second client that does not go through the
// proxy (time of receipt at that client).
func (e *env) observe(topic string) observer {
	e.t.Helper()
	if e.Broker != nil {
		return &recorderObserver{rec: e.Events, m: broker.Match{Kind: broker.KindPublish, Topic: topic, After: e.Events.Seq()}}
	}
	o := &clientObserver{changed: make(chan struct{})}
	cfg := e.Config(e.clientID("observer"))
	cfg.ConfigureSocketFactory(nil) // straight to the endpoint, not through the proxy
	cfg.ConfigureConnectDisconnectTimeout(10 * time.Second)
	c := testenv.Connect(e.t, cfg)
	_, err := c.Subscribe(testenv.Context(e.t), topic, client.QoS1, o.add)
	require.NoError(e.t, err)
	return o
}

type recorderObserver struct {
	rec *broker.Recorder
	m   broker.Match
}

func (o *recorderObserver) waitN(ctx context.Context, n int) ([]arrival, error) {
	evs, err := o.rec.WaitForN(ctx, n, o.m)
	return toArrivals(evs), err
}

func (o *recorderObserver) all() []arrival { return toArrivals(o.rec.Events(o.m)) }

func toArrivals(evs []broker.Event) []arrival {
	out := make([]arrival, len(evs))
	for i, e := range evs {
		out[i] = arrival{payload: string(e.Payload), at: e.At}
	}
	return out
}

type clientObserver struct {
	mu      sync.Mutex // guards arrived, changed
	arrived []arrival
	changed chan struct{}
}

func (o *clientObserver) add(m client.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.arrived = append(o.arrived, arrival{payload: string(m.Payload), at: time.Now()})
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *clientObserver) all() []arrival {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]arrival(nil), o.arrived...)
}

func (o *clientObserver) waitN(ctx context.Context, n int) ([]arrival, error) {
	for {
		o.mu.Lock()
		got, changed := o.arrived, o.changed
		o.mu.Unlock()
		if len(got) >= n {
			return append([]arrival(nil), got[:n]...), nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("observer: %d of %d arrivals: %w", len(got), n, ctx.Err())
		}
	}
}

func payloadsOf(as []arrival) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.payload
	}
	return out
}

func seq(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

// spacing summarises the gaps between consecutive arrivals.
type spacing struct {
	mean, worst, min time.Duration
}

func spacingOf(as []arrival) spacing {
	s := spacing{min: time.Hour}
	for i := 1; i < len(as); i++ {
		gap := as[i].at.Sub(as[i-1].at)
		s.worst = max(s.worst, gap)
		s.min = min(s.min, gap)
	}
	if len(as) > 1 {
		s.mean = as[len(as)-1].at.Sub(as[0].at) / time.Duration(len(as)-1)
	}
	return s
}
