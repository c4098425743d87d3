//go:build !unix

package queuelog

import (
	"errors"
	"os"
)

var errWouldBlock = errors.New("would block")

// flock is not available: the directory's lock needs flock(2).
func flock(*os.File) error {
	return errors.New("queuelog: a queue directory needs a Unix system (flock)")
}
