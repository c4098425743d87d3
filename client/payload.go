package client

import (
	"math/bits"
	"sync"
)

// A synchronous publish owns a copy of its payload from acceptance until it
// is finished, so its caller may reuse the buffer at once. The copies come
// from pools of power-of-two sizes, 64 B to 256 KiB, and go back when the
// request is finished, so a busy publisher produces no garbage.
const (
	minPooledPayload = 64
	poolBuckets      = 13 // 64 B << 12 = 256 KiB
)

var payloadPools [poolBuckets]sync.Pool

// bucket returns the pool index for capacity n rounded up to a power of
// two, or -1 if n is too large to pool.
func bucket(n int) int {
	if n <= minPooledPayload {
		return 0
	}
	b := bits.Len(uint(n-1)) - bits.Len(uint(minPooledPayload-1))
	if b >= poolBuckets {
		return -1
	}
	return b
}

// payloadBuf is a pooled buffer. The pools hold pointers, so that putting
// a buffer back allocates nothing.
type payloadBuf struct{ b []byte }

// copyPayload returns a pooled copy of p.
func copyPayload(p []byte) *payloadBuf {
	b := bucket(len(p))
	if b < 0 {
		return &payloadBuf{append([]byte(nil), p...)}
	}
	buf, ok := payloadPools[b].Get().(*payloadBuf)
	if !ok {
		buf = &payloadBuf{make([]byte, 0, minPooledPayload<<b)}
	}
	buf.b = append(buf.b[:0], p...)
	return buf
}

// releasePayload returns a buffer made by copyPayload to its pool. Nobody
// may use it afterwards.
func releasePayload(buf *payloadBuf) {
	if buf == nil {
		return
	}
	if b := bucket(cap(buf.b)); b >= 0 && cap(buf.b) == minPooledPayload<<b {
		payloadPools[b].Put(buf)
	}
}
