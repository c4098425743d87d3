package queuelog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrLocked: another Log, in this process or another, has the directory
// open.
var ErrLocked = errors.New("queuelog: directory in use")

// lockFileName is the file in the directory that Open locks (and writes its
// process id in, for the error another process gets).
const lockFileName = "LOCK"

// lockDir takes the directory's exclusive lock, without waiting.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(f); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, errWouldBlock) {
			who := "another process"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(holder))); perr == nil {
				who = "process " + strconv.Itoa(pid)
				if pid == os.Getpid() {
					who = "this process (another client)"
				}
			}
			return nil, fmt.Errorf("%w: %s has it open (it holds the lock on %s)", ErrLocked, who, path)
		}
		return nil, fmt.Errorf("queuelog: lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}
