//go:build !linux

package testenv

import "testing"

// SmallFileSystem skips the test: filling a small file system needs
// Linux's tmpfs.
func SmallFileSystem(tb testing.TB, size int) string {
	tb.Helper()
	tb.Skip("testenv: a full-disk test needs Linux (a tmpfs mount)")
	return ""
}
