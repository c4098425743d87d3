package broker_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
)

// Accept never fails while Refuse runs at the same time (Refuse releases
// the port before another Accept can try to bind it), and a final Accept
// leaves the proxy accepting.
func TestAcceptRacingRefuse(t *testing.T) {
	t.Parallel()
	up, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { up.Close() })
	p, err := broker.NewProxy(up.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })

	const rounds = 1000
	failed := 0
	var example error
	for range rounds {
		refused := make(chan struct{})
		go func() {
			defer close(refused)
			p.SetFault(broker.Refuse, true)
		}()
		// Accept again and again while Refuse runs: before it (a no-op),
		// during it, and once after it.
		var roundErr error
		for done := false; !done; {
			select {
			case <-refused:
				done = true
			default:
			}
			if err := p.SetFault(broker.Refuse, false); err != nil {
				roundErr = err
			}
		}
		if roundErr != nil {
			failed++
			example = roundErr
		}
	}
	require.Zero(t, failed, "%d of %d rounds failed, e.g.: %v", failed, rounds, example)
	c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	require.NoError(t, err, "the proxy accepts after the last round")
	c.Close()
}

// A link already cut is not open any more, even before the proxy's copiers
// have noticed: CutLinks and Links count only open links.
func TestCutLinksCountsOnlyOpenLinks(t *testing.T) {
	t.Parallel()
	b := broker.NewTLS(t, broker.WithPlainTCP())
	p := b.TCP().Proxy
	for i := range 50 {
		dialRaw(t, b.TCP(), fmt.Sprint("counted-", i), 4, 30)
		require.Equal(t, 1, p.CutLinks(broker.FIN), "round %d", i)
		require.Zero(t, p.Links(), "round %d", i)
		require.Zero(t, p.CutLinks(broker.FIN), "round %d", i)
	}
}
