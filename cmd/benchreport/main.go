// Command benchreport measures what the client costs and how exactly it
// keeps time, against the embedded broker over mutual TLS (or an external
// broker given -endpoint, -port, -rootCA, -cert and -key), prints one table,
// and writes it with the machine and date to -out. It exits non-zero if a
// target is missed. make bench runs it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/iotmqtt/iotmqtt/client"
)

// row is one line of the report.
type row struct {
	section, name, value string
	target               string
	pass                 *bool // nil: no target
}

func ptr(b bool) *bool { return &b }

func main() {
	serveIfBrokerProcess()
	err := run(os.Args[1:], os.Stdout)
	var missed errTargetsMissed
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &missed):
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(2)
	}
}

// errTargetsMissed lists the targets a run missed.
type errTargetsMissed []string

func (e errTargetsMissed) Error() string {
	return fmt.Sprintf("%d target(s) missed: %s", len(e), strings.Join(e, "; "))
}

// scale sets how much each measurement does.
type scale struct {
	rounds, syncN, asyncN, latencyN, growthN, growthReps, drainN, slowDrainN, lossN, reconnectN, queueN, diskQueueN, durableQueueN int
	backoffBase                                                                                                                    time.Duration
	// roundTime is about how long one throughput round lasts (0: as long
	// as its n messages take), in turns: the contestants take turns this
	// many times within a round.
	roundTime time.Duration
	turns     int
}

var (
	fullScale  = scale{rounds: 25, syncN: 2000, asyncN: 10000, latencyN: 2000, growthN: 10000, growthReps: 7, drainN: 200, slowDrainN: 200, lossN: 200, reconnectN: 50, queueN: 1_000_000, diskQueueN: 200_000, durableQueueN: 5000, backoffBase: 50 * time.Millisecond, roundTime: 300 * time.Millisecond, turns: 8}
	quickScale = scale{rounds: 1, syncN: 100, asyncN: 400, latencyN: 50, growthN: 200, growthReps: 1, drainN: 20, slowDrainN: 2, lossN: 10, reconnectN: 3, queueN: 10_000, diskQueueN: 2000, durableQueueN: 100, backoffBase: 10 * time.Millisecond, turns: 1}
)

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	var e endpoint
	fs.StringVar(&e.Host, "endpoint", "", "external MQTT broker host (default: the embedded broker)")
	fs.IntVar(&e.Port, "port", 8883, "port of -endpoint")
	fs.StringVar(&e.RootCA, "rootCA", "", "root CA file for -endpoint")
	fs.StringVar(&e.Cert, "cert", "", "device certificate file for -endpoint")
	fs.StringVar(&e.Key, "key", "", "device private key file for -endpoint")
	fs.StringVar(&e.clientID, "clientId", "iotmqtt-bench", "prefix of the client ids used")
	fs.StringVar(&e.topicPrefix, "topicPrefix", "sdk/test/iotmqtt/bench", "prefix of the topics used")
	out := fs.String("out", "bench/RESULTS.md", "file to write the report to (empty: none)")
	quick := fs.Bool("quick", false, "small runs, to check the report works (its numbers mean little)")
	rounds := fs.Int("rounds", 0, "throughput rounds per case (default 25; 1 with -quick)")
	only := fs.String("only", "", "comma-separated measurements to run (default all): "+
		"throughput, latency, drain-100hz, drain-2hz, backoff, link-loss, reconnect, offline-queue, persistent-queue, cost-growth, binary-size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if e.Host != "" && (e.RootCA == "" || e.Cert == "" || e.Key == "") {
		return errors.New("-endpoint needs -rootCA, -cert and -key")
	}
	sc := fullScale
	if *quick {
		sc = quickScale
	}
	if *rounds > 0 {
		sc.rounds = *rounds
	}

	const kib = 1024
	var cases []publishCase
	for _, qos := range []client.QoS{client.QoS0, client.QoS1} {
		for _, async := range []bool{false, true} {
			for _, size := range []int{100, 8 * kib} {
				n := sc.syncN
				if async {
					n = sc.asyncN
				}
				if size > 100 {
					n /= 4
				}
				cases = append(cases, publishCase{qos: qos, async: async, size: size, n: n})
			}
		}
	}
	steps := []step{
		{"throughput", func() ([]row, error) { return throughput(e, cases, sc) }},
		{"latency", func() ([]row, error) { return latency(e, sc.latencyN) }},
		{"drain-100hz", func() ([]row, error) { return drainAccuracy(e, 100, sc.drainN) }},
		{"drain-2hz", func() ([]row, error) { return drainAccuracy(e, 2, sc.slowDrainN) }},
		{"backoff", func() ([]row, error) { return backoffAccuracy(e, sc.backoffBase) }},
		{"link-loss", func() ([]row, error) { return lossDetection(e, sc.lossN) }},
		{"reconnect", func() ([]row, error) { return reconnectCost(e, sc.reconnectN) }},
		{"offline-queue", func() ([]row, error) { return offlineQueue(e, sc.queueN) }},
		{"persistent-queue", func() ([]row, error) { return persistentQueue(e, sc.diskQueueN, sc.durableQueueN) }},
		{"cost-growth", func() ([]row, error) { return costGrowth(e, sc.growthN, sc.growthReps) }},
		{"binary-size", binarySize},
	}
	selected := map[string]bool{}
	for _, name := range strings.Split(*only, ",") {
		if name = strings.TrimSpace(name); name != "" {
			selected[name] = true
		}
	}
	for name := range selected {
		if !slices.ContainsFunc(steps, func(s step) bool { return s.name == name }) {
			return fmt.Errorf("-only: no measurement %q", name)
		}
	}
	var rows []row
	for _, s := range steps {
		if len(selected) > 0 && !selected[s.name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "measuring %s…\n", s.name)
		r, err := s.fn()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		rows = append(rows, r...)
	}

	where := "the embedded mochi broker over mutual TLS (loopback), AWS IoT Core profile without its per-connection publish rate, throughput, unacknowledged-delivery and connect rate limits; for throughput, in a process of its own (then, not judged, in benchreport's process)"
	if e.Host != "" {
		where = fmt.Sprintf("%s:%d over mutual TLS, through the fault proxy", e.Host, e.Port)
	}
	report := render(rows, where, *quick)
	fmt.Fprint(stdout, report)
	if *out != "" {
		if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
			return err
		}
	}
	var missed errTargetsMissed
	for _, r := range rows {
		if r.pass != nil && !*r.pass {
			missed = append(missed, r.name+" ("+r.value+", target "+r.target+")")
		}
	}
	if len(missed) > 0 {
		return missed
	}
	return nil
}

// step is one measurement of the report.
type step struct {
	name string
	fn   func() ([]row, error)
}

// render writes the report as Markdown: the machine, then one table.
func render(rows []row, where string, quick bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# iotmqtt benchmark report\n\n")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %s, %d CPUs, %s/%s, kernel %s\n", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, kernel())
	fmt.Fprintf(&b, "- Go: %s; iotmqtt %s against %s\n", runtime.Version(), client.Version, where)
	if quick {
		fmt.Fprintf(&b, "- **quick run: small samples, the numbers are not meaningful**\n")
	}
	fmt.Fprintf(&b, "\n| measurement | | result | target | |\n|---|---|---|---|---|\n")
	section := ""
	for _, r := range rows {
		sec := ""
		if r.section != section {
			sec, section = r.section, r.section
		}
		verdict := ""
		if r.pass != nil {
			verdict = "ok"
			if !*r.pass {
				verdict = "**MISSED**"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", sec, r.name, r.value, r.target, verdict)
	}
	return b.String()
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func kernel() string {
	data, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(data))
}

// si formats a rate with a k or M suffix.
func si(x float64) string {
	switch {
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	default:
		return fmt.Sprintf("%.0f", x)
	}
}
