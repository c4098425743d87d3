//go:build unix

package queuelog

import (
	"os"
	"syscall"
)

var errWouldBlock error = syscall.EWOULDBLOCK

// flock takes an exclusive advisory lock on f, failing with
// errWouldBlock if another open file holds it. The lock goes with the
// file's descriptor: closing it, or the process ending, releases it.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			return err
		}
	}
}
