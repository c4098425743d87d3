package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/client"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// The kill test's child is this test binary, run again with these
// variables set (see TestMain): a device program with its queue in a
// directory, publishing a numbered stream until it is killed.
const (
	childRound = "IOTMQTT_KILLTEST_ROUND" // the round; "final" drains and exits
	childEnv   = "IOTMQTT_KILLTEST"       // dir|mode|host|port|addr|rootCA|cert|key
)

const (
	killRounds  = 40               // SIGKILLs
	killTopic   = "kill/stream"    // the stream's topic
	killID      = "killed-device"  // the child's client id
	childPeriod = time.Millisecond // between the child's publishes
	// killBudget bounds the whole test.
	killBudget = 90 * time.Second
)

// A device program killed with SIGKILL at random moments, 40 times, while
// publishing a numbered stream through a link that the broker cuts and
// refuses at random moments too, loses nothing it had reported Queued: each
// restart on the same directory drains what was left. Every publish
// reported Queued (or Sent) reaches the broker, first arrivals come in the
// order of the calls, and the duplicates are counted and bounded by what
// can be in flight when a link ends (linkBacklog, 64, per kill or cut).
// The rounds alternate SyncEachRequest and SyncBatched on the same
// directory (both promise survival of a kill from the call's return).
// While a child runs, this process cannot open its directory.
func TestQueueDirSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs a child process 25 times")
	}
	b := broker.NewTLS(t, testenv.Unthrottled())
	ctx := testenv.ContextFor(t, killBudget)
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, seed))

	reported := map[string]client.Outcome{} // payload → the outcome the child printed
	var order []string                      // the payloads printed, in call order
	cuts := 0
	var stderr strings.Builder
	for round := range killRounds {
		require.NoError(t, b.SetFault(broker.Refuse, false))
		ch := startChild(t, b, dir, strconv.Itoa(round), client.QueueSync(round%2))
		if round%4 != 3 { // one round in four is killed at once: while opening or draining
			require.NoError(t, ch.await(ctx, "connected"), "round %d: %s", round, ch.stderr())
		}
		if round == 0 {
			requireDirInUse(t, b, dir, ch.cmd.Process.Pid)
		}
		pause(ctx, rnd, 40*time.Millisecond)
		if rnd.IntN(3) > 0 {
			require.NoError(t, b.SetFault(broker.Refuse, true))
			b.CutLinks(broker.FIN)
			cuts++
			pause(ctx, rnd, 60*time.Millisecond)
		}
		lines := ch.kill(t)
		stderr.WriteString(ch.stderr())
		for _, l := range lines {
			payload, outcome, ok := parseOutcome(l)
			if ok {
				reported[payload] = outcome
				order = append(order, payload)
			}
		}
	}

	require.NoError(t, b.SetFault(broker.Refuse, false))
	final := startChild(t, b, dir, "final", client.SyncEachRequest)
	require.NoError(t, final.await(ctx, "drained"), final.stderr())
	require.NoError(t, final.wait(ctx), final.stderr())
	stderr.WriteString(final.stderr())

	arrived := map[string]int{}
	var firsts []string
	for _, e := range b.Events.Events(broker.Match{Kind: broker.KindPublish, ClientID: killID, Topic: killTopic}) {
		p := string(e.Payload)
		if arrived[p] == 0 {
			firsts = append(firsts, p)
		}
		arrived[p]++
	}
	require.Zero(t, b.Events.Discarded(), "the recorder kept every event")

	var lost []string
	counts := map[client.Outcome]int{}
	for _, p := range order {
		o := reported[p]
		counts[o]++
		if (o == client.Queued || o == client.Sent) && arrived[p] == 0 {
			lost = append(lost, fmt.Sprintf("%s (%s)", p, o))
		}
	}
	duplicates := 0
	for _, n := range arrived {
		duplicates += n - 1
	}
	t.Logf("%d kills, %d cuts; outcomes %v; %d distinct arrivals, %d duplicates", killRounds, cuts, counts, len(arrived), duplicates)
	require.NotZero(t, counts[client.Queued], "the stream was queued")
	require.Empty(t, lost, "reported Queued or Sent, never arrived")
	require.LessOrEqual(t, duplicates, (killRounds+cuts)*64, "duplicates bounded by what can be in flight")
	require.True(t, inCallOrder(firsts), "first arrivals in the order of the calls: %v", firsts)
	for p := range arrived {
		_, ok := reported[p]
		require.True(t, ok || isLastOfRound(p, order), "%s arrived but was never published", p)
	}
	require.NotContains(t, stderr.String(), "level=ERROR")
}

// requireDirInUse checks that a client in this process cannot open the
// directory the child process has open, and is told who has it.
func requireDirInUse(t *testing.T, b *broker.Broker, dir string, pid int) {
	t.Helper()
	cfg := testenv.DeviceConfig(b, killID)
	cfg.OfflineQueueDir = dir
	_, err := client.New(cfg)
	require.ErrorIs(t, err, client.ErrQueueDirInUse)
	require.ErrorContains(t, err, fmt.Sprintf("process %d has it open", pid))
}

// pause waits a random time up to most: a random moment for a fault.
func pause(ctx context.Context, rnd *rand.Rand, most time.Duration) {
	t := time.NewTimer(time.Duration(rnd.Int64N(int64(most))))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// parseOutcome reads a child's "round:i outcome" line (the outcome as a
// number).
func parseOutcome(line string) (string, client.Outcome, bool) {
	payload, num, ok := strings.Cut(line, " ")
	o, err := strconv.Atoi(num)
	if !ok || err != nil || !strings.Contains(payload, ":") {
		return "", 0, false
	}
	return payload, client.Outcome(o), true
}

// callIndex is a payload's place in the stream: round, then number.
func callIndex(p string) [2]int {
	r, i, _ := strings.Cut(p, ":")
	rn, _ := strconv.Atoi(r)
	in, _ := strconv.Atoi(i)
	return [2]int{rn, in}
}

func inCallOrder(payloads []string) bool {
	for i := 1; i < len(payloads); i++ {
		a, b := callIndex(payloads[i-1]), callIndex(payloads[i])
		if a[0] > b[0] || (a[0] == b[0] && a[1] >= b[1]) {
			return false
		}
	}
	return true
}

// isLastOfRound reports whether p is the publish its round's child was
// making when it was killed (called, not yet printed).
func isLastOfRound(p string, order []string) bool {
	at := callIndex(p)
	last := -1
	for _, q := range order {
		if i := callIndex(q); i[0] == at[0] {
			last = max(last, i[1])
		}
	}
	return at[1] == last+1
}

// child is a running device program.
type child struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	more   chan struct{} // a line came, or the output ended
	done   chan struct{} // the output ended
	errBuf testenv.Buffer
}

func startChild(t *testing.T, b *broker.Broker, dir, round string, mode client.QueueSync) *child {
	t.Helper()
	l := b.MTLS()
	f := b.ClientFiles()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childRound+"="+round,
		childEnv+"="+strings.Join([]string{dir, strconv.Itoa(int(mode)), l.Host, strconv.Itoa(l.Port), l.Addr, f.RootCA, f.Cert, f.PrivateKey}, "|"))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	ch := &child{cmd: cmd, more: make(chan struct{}, 1), done: make(chan struct{})}
	cmd.Stderr = &ch.errBuf
	require.NoError(t, cmd.Start())
	go ch.read(out)
	return ch
}

func (ch *child) read(out io.Reader) {
	defer close(ch.done)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		ch.mu.Lock()
		ch.lines = append(ch.lines, sc.Text())
		ch.mu.Unlock()
		select {
		case ch.more <- struct{}{}:
		default:
		}
	}
}

// await waits until the child prints a line starting with word.
func (ch *child) await(ctx context.Context, word string) error {
	seen := 0
	for {
		ch.mu.Lock()
		lines := ch.lines[seen:]
		seen = len(ch.lines)
		ch.mu.Unlock()
		for _, l := range lines {
			if strings.HasPrefix(l, word) {
				return nil
			}
		}
		select {
		case <-ch.more:
		case <-ch.done:
			return fmt.Errorf("the child ended before printing %q", word)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q: %w", word, ctx.Err())
		}
	}
}

// kill SIGKILLs the child and returns what it printed.
func (ch *child) kill(t *testing.T) []string {
	t.Helper()
	require.NoError(t, ch.cmd.Process.Kill())
	<-ch.done
	var ee *exec.ExitError
	require.ErrorAs(t, ch.cmd.Wait(), &ee)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	return ch.lines
}

// wait waits for the child to exit by itself, bounded by ctx.
func (ch *child) wait(ctx context.Context) error {
	select {
	case <-ch.done:
		return ch.cmd.Wait()
	case <-ctx.Done():
		_ = ch.cmd.Process.Kill()
		<-ch.done
		_ = ch.cmd.Wait()
		return ctx.Err()
	}
}

func (ch *child) stderr() string { return ch.errBuf.String() }

// runKillChild is the device program: it opens the queue's directory,
// connects, and publishes "round:i" every millisecond at QoS 1, printing
// each call's outcome once it returned, until it is killed. The final
// round only drains what is left and exits.
func runKillChild(round, env string) int {
	f := strings.Split(env, "|")
	if len(f) != 8 {
		fmt.Fprintln(os.Stderr, "bad", childEnv, env)
		return 2
	}
	mode, _ := strconv.Atoi(f[1])
	port, _ := strconv.Atoi(f[3])
	cfg := client.DefaultConfig(killID)
	cfg.ConfigureEndpoint(f[2], port)
	cfg.ConfigureCredentials(f[5], f[7], f[6])
	addr := f[4]
	cfg.ConfigureSocketFactory(func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	})
	testenv.Scale(&cfg, 10*time.Millisecond)
	cfg.ConfigureDrainingFrequency(5000)
	cfg.OfflineQueueDir = f[0]
	cfg.OfflineQueueSync = client.QueueSync(mode)
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := client.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "new:", err)
		return 1
	}
	defer c.Close()
	fmt.Printf("restored %d\n", c.QueuedRequests())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		return 1
	}
	fmt.Println("connected")
	if round == "final" {
		if err := c.Flush(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "flush:", err)
			return 1
		}
		fmt.Println("drained")
		return 0
	}
	tick := time.NewTicker(childPeriod)
	defer tick.Stop()
	for i := 0; ctx.Err() == nil; i++ {
		p := round + ":" + strconv.Itoa(i)
		out, err := c.PublishAsync(killTopic, []byte(p), client.QoS1, nil)
		if err != nil && !errors.Is(err, client.ErrQueueStorage) {
			fmt.Fprintln(os.Stderr, "publish:", err)
			return 1
		}
		fmt.Println(p, int(out))
		<-tick.C
	}
	return 1
}
