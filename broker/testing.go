package broker

import "testing"

// NewTLS starts a broker for a test, as StartTLS does, and closes it when
// the test ends. It fails the test if the broker cannot start or stop
// cleanly.
func NewTLS(tb testing.TB, opts ...Option) *Broker {
	tb.Helper()
	b, err := StartTLS(opts...)
	if err != nil {
		tb.Fatalf("broker.NewTLS: %v", err)
	}
	tb.Cleanup(func() {
		if err := b.Close(); err != nil {
			tb.Errorf("broker close: %v", err)
		}
	})
	return b
}
