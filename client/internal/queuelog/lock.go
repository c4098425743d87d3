package queuelog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// ErrLocked: another Log, in this process or another, has the directory
// open.
var ErrLocked = errors.New("queuelog: directory in use")

// lockFileName is the file in the directory that Open locks (and writes its
// process id in, for the error another process gets).
const lockFileName = "LOCK"

// lockedHere holds the directories a Log of this process has open: two
// Logs of one process are told apart here, not by the file lock.
var lockedHere = struct {
	sync.Mutex
	dirs map[string]bool
}{dirs: make(map[string]bool)}

// dirLock is a directory's exclusive lock, held by one Log.
type dirLock struct {
	key  string // the directory, absolute
	file *os.File
}

// lockDir takes the directory's exclusive lock, without waiting: one Log
// per directory in this process (lockedHere), and across processes a
// POSIX record lock on its LOCK file (lockExclusive; a flock would be
// shared with a child process this one starts, from fork until exec, and
// so look held just after Close).
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFileName)
	key, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	lockedHere.Lock()
	if lockedHere.dirs[key] {
		lockedHere.Unlock()
		return nil, fmt.Errorf("%w: this process (another client) has it open (it holds the lock on %s)", ErrLocked, path)
	}
	lockedHere.dirs[key] = true
	lockedHere.Unlock()
	f, err := lockFile(path)
	if err != nil {
		lockedHere.Lock()
		delete(lockedHere.dirs, key)
		lockedHere.Unlock()
		return nil, err
	}
	return &dirLock{key: key, file: f}, nil
}

// Close releases the lock.
func (d *dirLock) Close() error {
	err := d.file.Close()
	lockedHere.Lock()
	delete(lockedHere.dirs, d.key)
	lockedHere.Unlock()
	return err
}

// lockFile opens and locks path, and writes this process's id in it.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockExclusive(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			who := "another process"
			if holder := holderOf(path); holder > 0 {
				who = "process " + strconv.Itoa(holder)
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

// holderOf returns the process id written in a lock file, or 0.
func holderOf(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}
