package broker_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/broker"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// Close while connections keep arriving: mochi must not be closed while a
// connection handed to it is still being attached (a data race in mochi
// that the race detector found under load).
func TestCloseWhileConnectionsArrive(t *testing.T) {
	t.Parallel()
	for range 15 {
		b, err := broker.StartTLS(broker.WithPlainTCP())
		require.NoError(t, err)
		addr := b.TCP().Addr
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 1000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.DialTimeout("tcp", addr, time.Second)
					if err != nil {
						continue
					}
					c.Write([]byte{0x10}) // the start of a CONNECT
					c.Close()
				}
			}()
		}
		_, err = b.Events.WaitForN(testenv.Context(t), 20, broker.Match{Kind: broker.KindAccept})
		require.NoError(t, err)
		require.NoError(t, b.Close())
		close(stop)
		wg.Wait()
	}
}
