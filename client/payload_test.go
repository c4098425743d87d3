package client

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPayloadPool(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 64, 65, 100, 128, 129, 8192, 128 * 1024, 256 * 1024, 256*1024 + 1} {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i)
		}
		p := copyPayload(src)
		require.Equal(t, src, p.b[:n:n], "size %d", n)
		if n <= 256*1024 {
			require.Equal(t, minPooledPayload<<bucket(n), cap(p.b), "size %d rounds up to a power of two", n)
		}
		releasePayload(p)
		again := copyPayload(src)
		require.Equal(t, src, again.b[:n:n])
		releasePayload(again)
	}
	releasePayload(nil)
	releasePayload(&payloadBuf{make([]byte, 100)}) // not from the pool: ignored
}
