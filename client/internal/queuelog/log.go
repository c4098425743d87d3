// Package queuelog keeps a queue's records on disk so that they survive the
// process that wrote them: an append-only segment file in one directory,
// each record a frame with its length and a CRC-32C, and a record's
// deletion a small frame of its own. Open takes the directory's exclusive
// lock (a POSIX record lock), replays the file and returns the live
// records in id order; a truncated or corrupted frame (power lost mid-write) is reported and
// skipped, and the records before it are kept. When most of the file is
// deleted records, Compact writes the live ones to a fresh segment and
// removes the old one.
//
// Write puts a batch in the file with one write(2): once it returns, the
// batch survives the process being killed. Sync makes it survive a power
// loss (fsync); concurrent Syncs share one fsync.
package queuelog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ErrClosed: the Log was closed.
var ErrClosed = errors.New("queuelog: closed")

// DefaultCompactAt is Options.CompactAt's default.
const DefaultCompactAt = 1 << 20

// Options tune a Log; the zero value is the default.
type Options struct {
	// CompactAt: once the segment file holds this many bytes and three
	// quarters of the records put in it have been deleted, NeedsCompaction
	// says so (default 1 MiB); a file whose every record is deleted is
	// compacted from CompactAt/16 on.
	CompactAt int64
	// Damaged, if set, is told of every damaged stretch a replay skips
	// (at Open, or when Compact reads the file back).
	Damaged func(Damage)
}

// Log is a directory of queue records. Its methods are safe for concurrent
// use.
type Log struct {
	dir  string
	opts Options
	lock *dirLock

	// syncMu is held while a Sync fsyncs outside mu, and by what replaces
	// or closes the file (Compact, Close), so the file Sync uses stays open.
	// Lock order: syncMu, then mu.
	syncMu sync.Mutex

	mu      sync.Mutex // guards what follows
	file    *os.File   // the segment appended to
	gen     uint64     // its generation, in its name
	size    int64      // its size
	written int64      // bytes written since Open: the positions Sync takes
	synced  int64      // of those, how many an fsync has covered
	puts    int        // put frames in the file
	live    int        // of those, not deleted
	// broken is why the file cannot be appended to until it is rewritten:
	// a failed write that could not be undone, or a failed fsync.
	broken error
	closed bool
}

// Contents is what Open found in the directory.
type Contents struct {
	Records []Record // the live records, in id order
	MaxID   uint64   // the largest id in the files, live or deleted: new ids must be larger
}

// Open opens (creating it if needed) the log in dir, takes the directory's
// lock (ErrLocked if another Log has it, in any process), and replays it.
// Damaged stretches are reported to opts.Damaged; if there were any, or
// the file is mostly deleted records, the live records are first written
// to a fresh segment.
func Open(dir string, opts Options) (*Log, *Contents, error) {
	if opts.CompactAt <= 0 {
		opts.CompactAt = DefaultCompactAt
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, nil, err
	}
	l := &Log{dir: dir, opts: opts, lock: lock}
	contents, err := l.load()
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	return l, contents, nil
}

// load replays the segment files and opens the one to append to.
func (l *Log) load() (*Contents, error) {
	gens, err := l.segments()
	if err != nil {
		return nil, err
	}
	rp := newReplay()
	for _, g := range gens {
		if err := rp.file(l.path(g)); err != nil {
			return nil, err
		}
	}
	for _, d := range rp.damage {
		l.report(d)
	}
	c := &Contents{Records: rp.live(), MaxID: rp.maxID}
	switch {
	case len(gens) == 0:
		return c, l.replaceWith(1, nil, nil)
	case len(rp.damage) > 0 || len(gens) > 1:
		return c, l.replaceWith(gens[len(gens)-1]+1, gens, c.Records)
	}
	l.gen = gens[0]
	if l.file, err = os.OpenFile(l.path(l.gen), os.O_WRONLY|os.O_APPEND, 0); err != nil {
		return nil, err
	}
	st, err := l.file.Stat()
	if err != nil {
		l.file.Close()
		return nil, err
	}
	l.size, l.puts, l.live = st.Size(), rp.puts, len(c.Records)
	if l.needsCompaction() {
		return c, l.replaceWith(l.gen+1, []uint64{l.gen}, c.Records)
	}
	return c, nil
}

// segments lists the generations of the segment files, oldest first.
func (l *Log) segments() ([]uint64, error) {
	names, err := filepath.Glob(filepath.Join(l.dir, "segment-*.log"))
	if err != nil {
		return nil, err
	}
	var gens []uint64
	for _, name := range names {
		hex := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(name), "segment-"), ".log")
		if g, err := strconv.ParseUint(hex, 16, 64); err == nil && len(hex) == 16 {
			gens = append(gens, g)
		}
	}
	slices.Sort(gens)
	return gens, nil
}

func (l *Log) path(gen uint64) string {
	return filepath.Join(l.dir, fmt.Sprintf("segment-%016x.log", gen))
}

func (l *Log) report(d Damage) {
	if l.opts.Damaged != nil {
		l.opts.Damaged(d)
	}
}

// Batch is records to put and delete with one write. The zero value is an
// empty batch; Reset empties it for reuse.
type Batch struct {
	buf           []byte
	puts, deletes int
}

// Put adds a record whose data is the concatenation of parts.
func (b *Batch) Put(id uint64, parts ...[]byte) {
	b.buf = appendFrame(b.buf, kindPut, id, parts...)
	b.puts++
}

// Delete deletes the record id.
func (b *Batch) Delete(id uint64) {
	b.buf = appendFrame(b.buf, kindDelete, id)
	b.deletes++
}

// Len is the number of puts and deletes in the batch.
func (b *Batch) Len() int { return b.puts + b.deletes }

// Reset empties the batch, keeping its buffer.
func (b *Batch) Reset() { b.buf, b.puts, b.deletes = b.buf[:0], 0, 0 }

// Write appends the batch with one write(2) and returns the position to
// give Sync to make it durable. It is all or nothing: on an error (a full
// disk, an I/O error) nothing of the batch stays in the file. A log whose
// earlier fsync failed is rewritten first.
func (l *Log) Write(b *Batch) (int64, error) {
	l.mu.Lock()
	if l.broken != nil && !l.closed {
		l.mu.Unlock()
		if err := l.Compact(); err != nil {
			return 0, err
		}
		l.mu.Lock()
	}
	defer l.mu.Unlock()
	switch {
	case l.closed:
		return 0, ErrClosed
	case l.broken != nil:
		return 0, l.broken
	case b.Len() == 0:
		return l.written, nil
	}
	n, err := l.file.Write(b.buf)
	if err != nil {
		if n > 0 {
			if terr := l.file.Truncate(l.size); terr != nil {
				l.broken = fmt.Errorf("queuelog: %s ends in a partial record that could not be removed (%v); it is rewritten before the next write", l.file.Name(), terr)
			}
		}
		return 0, fmt.Errorf("queuelog: write %s: %w", l.file.Name(), err)
	}
	l.size += int64(n)
	l.written += int64(n)
	l.puts += b.puts
	l.live = max(l.live+b.puts-b.deletes, 0)
	return l.written, nil
}

// Sync returns once everything written up to pos is on disk (fsync). A
// Sync that finds its bytes already covered by another's fsync returns at
// once. A failed fsync leaves the file untrusted: the next Write rewrites
// it from what the system still holds.
func (l *Log) Sync(pos int64) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if l.synced >= min(pos, l.written) {
		l.mu.Unlock()
		return nil // Close's fsync covers a Sync that comes after it
	}
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	f, target := l.file, l.written
	l.mu.Unlock()
	err := f.Sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.broken = fmt.Errorf("queuelog: fsync %s: %w", f.Name(), err)
		return l.broken
	}
	l.synced = max(l.synced, target)
	return nil
}

// Written is the position of the last byte written: Sync(Written())
// makes everything written so far durable.
func (l *Log) Written() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.written
}

// Unsynced is how many bytes written no fsync has covered yet.
func (l *Log) Unsynced() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.written - l.synced
}

// NeedsCompaction reports whether the file holds CompactAt bytes or more
// and at least three quarters of its records have been deleted, or
// CompactAt/16 and all of them.
func (l *Log) NeedsCompaction() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.needsCompaction()
}

func (l *Log) needsCompaction() bool {
	switch {
	case l.closed:
		return false
	case l.live == 0:
		return l.size >= l.opts.CompactAt/16
	}
	return l.size >= l.opts.CompactAt && l.puts >= 4*l.live
}

// Compact writes the live records to a fresh segment, fsyncs it and
// removes the old one. It reads the old file back, so it also recovers a
// file an fsync failed on, from what the system still holds.
func (l *Log) Compact() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	rp := newReplay()
	if err := rp.file(l.path(l.gen)); err != nil {
		return err
	}
	for _, d := range rp.damage {
		l.report(d)
	}
	return l.replaceWith(l.gen+1, []uint64{l.gen}, rp.live())
}

// replaceWith writes recs to a new segment of generation gen, makes it
// durable, removes the segments of generations old (oldest first: a
// delete never outlives the segment of its put) and appends to the new one
// from then on. l.mu must be held, and l.syncMu if the log is open.
func (l *Log) replaceWith(gen uint64, old []uint64, recs []Record) error {
	path := l.path(gen)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	size, err := writeRecords(f, recs)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("queuelog: write %s: %w", path, err)
	}
	if l.file != nil {
		l.file.Close()
	}
	l.file, l.gen, l.size = f, gen, size
	l.puts, l.live = len(recs), len(recs)
	l.synced, l.broken = l.written, nil
	for _, g := range old {
		if err := os.Remove(l.path(g)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("queuelog: compacted into %s, but the old segment stays: %w", path, err)
		}
	}
	if len(old) > 0 {
		return syncDir(l.dir)
	}
	return nil
}

// writeRecords writes the segment header and recs to f, a megabyte at a
// time, and returns the bytes written.
func writeRecords(f *os.File, recs []Record) (int64, error) {
	buf := []byte(fileMagic)
	var size int64
	for i, r := range recs {
		buf = appendFrame(buf, kindPut, r.ID, r.Data)
		if len(buf) >= 1<<20 || i == len(recs)-1 {
			n, err := f.Write(buf)
			size += int64(n)
			if err != nil {
				return size, err
			}
			buf = buf[:0]
		}
	}
	if len(recs) == 0 {
		n, err := f.Write(buf)
		return int64(n), err
	}
	return size, nil
}

// syncDir makes the directory's entries (files created or removed)
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close makes what was written durable, closes the file and releases the
// directory's lock. Calling it again does nothing.
func (l *Log) Close() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	if l.synced < l.written {
		if err = l.file.Sync(); err == nil {
			l.synced = l.written
		}
	}
	if cerr := l.file.Close(); err == nil {
		err = cerr
	}
	if cerr := l.lock.Close(); err == nil {
		err = cerr
	}
	return err
}
