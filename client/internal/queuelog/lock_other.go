//go:build !unix

package queuelog

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// lockExclusive is not available: the directory's lock needs POSIX record
// locks.
func lockExclusive(*os.File) error {
	return errors.New("queuelog: a queue directory needs a Unix system (fcntl locks)")
}
