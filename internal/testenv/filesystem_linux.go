package testenv

import (
	"fmt"
	"syscall"
	"testing"
)

// SmallFileSystem mounts a tmpfs of size bytes on a fresh directory for
// the test and returns the directory, unmounted when the test ends: a disk
// to fill, for full-disk tests. It skips the test where mounting is not
// allowed (it needs root).
func SmallFileSystem(tb testing.TB, size int) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		tb.Skipf("testenv: a full-disk test needs a small file system: mounting a tmpfs needs root (%v)", err)
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			tb.Errorf("testenv: unmount %s: %v", dir, err)
		}
	})
	return dir
}
