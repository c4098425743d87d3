//go:build unix

package queuelog

import (
	"errors"
	"os"
	"syscall"
)

var errWouldBlock = errors.New("would block")

// lockExclusive takes an exclusive POSIX record lock on the whole of f,
// failing with errWouldBlock if another process holds it. The lock belongs
// to this process, not to the descriptor: a child process does not share
// it between fork and exec (as it would a flock), and closing f releases
// it. (It would also go if this process closed any other descriptor of
// the file: lockDir keeps one Log per directory here, so none exists.)
func lockExclusive(f *os.File) error {
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	for {
		err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN || err == syscall.EACCES:
			return errWouldBlock
		}
		return err
	}
}
