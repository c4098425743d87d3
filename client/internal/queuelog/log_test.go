package queuelog

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// open opens dir, collecting what replay reports as damaged; the log is
// closed when the test ends.
func open(t *testing.T, dir string, opts Options) (*Log, *Contents, []Damage) {
	t.Helper()
	var damage []Damage
	opts.Damaged = func(d Damage) { damage = append(damage, d) }
	l, c, err := Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, c, damage
}

func put(t *testing.T, l *Log, id uint64, data string, deletes ...uint64) int64 {
	t.Helper()
	var b Batch
	for _, d := range deletes {
		b.Delete(d)
	}
	b.Put(id, []byte(data))
	pos, err := l.Write(&b)
	require.NoError(t, err)
	return pos
}

func del(t *testing.T, l *Log, ids ...uint64) {
	t.Helper()
	var b Batch
	for _, id := range ids {
		b.Delete(id)
	}
	_, err := l.Write(&b)
	require.NoError(t, err)
}

func ids(recs []Record) []uint64 {
	out := []uint64{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// segmentFile returns the directory's one segment file.
func segmentFile(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "segment-*.log"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	return files[0]
}

func TestRecordsSurviveReopeningInIDOrder(t *testing.T) {
	dir := t.TempDir()
	l, c, _ := open(t, dir, Options{})
	require.Empty(t, c.Records)
	put(t, l, 1, "one")
	put(t, l, 2, "two")
	put(t, l, 5, "five", 2) // the delete and the put in one write
	put(t, l, 3, "three")   // a lower id later (a request put back in the queue)
	del(t, l, 9)            // an id never put: nothing to delete, but ids stay above it
	require.NoError(t, l.Close())

	_, c, damage := open(t, dir, Options{})
	require.Empty(t, damage)
	require.Equal(t, []uint64{1, 3, 5}, ids(c.Records))
	require.Equal(t, "three", string(c.Records[1].Data))
	require.Equal(t, uint64(9), c.MaxID, "new ids must be larger than any in the files")
}

func TestEmptyRecordsAndBatches(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, Options{})
	pos, err := l.Write(&Batch{})
	require.NoError(t, err, "an empty batch writes nothing")
	require.Equal(t, int64(0), pos)
	var b Batch
	b.Put(1)
	b.Put(2, []byte("a"), []byte("b"))
	require.Equal(t, 2, b.Len())
	_, err = l.Write(&b)
	require.NoError(t, err)
	b.Reset()
	require.Zero(t, b.Len())
	require.NoError(t, l.Close())
	_, c, _ := open(t, dir, Options{})
	require.Equal(t, []Record{{ID: 1, Data: []byte{}}, {ID: 2, Data: []byte("ab")}}, c.Records)
}

func TestADirectoryHasOneLogAtATime(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, Options{})
	_, _, err := Open(dir, Options{})
	require.ErrorIs(t, err, ErrLocked)
	require.ErrorContains(t, err, "this process (another client) has it open")
	require.ErrorContains(t, err, filepath.Join(dir, "LOCK"))
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "closing twice does nothing")
	l2, _, err := Open(dir, Options{})
	require.NoError(t, err, "closing released the lock")
	require.NoError(t, l2.Close())
}

// A closed log refuses writes and compaction; a Sync of what Close
// fsynced returns nil (a caller waiting for durability got it).
func TestClosedLogRefuses(t *testing.T) {
	l, _, _ := open(t, t.TempDir(), Options{})
	pos := put(t, l, 1, "one")
	require.Positive(t, l.Unsynced())
	require.NoError(t, l.Close())
	require.Zero(t, l.Unsynced(), "Close fsynced it")
	_, err := l.Write(&Batch{})
	require.ErrorIs(t, err, ErrClosed)
	require.NoError(t, l.Sync(pos))
	require.ErrorIs(t, l.Compact(), ErrClosed)
}

// A power loss mid-write leaves the last frame torn at any byte: replay
// keeps every record before it and reports the torn one, once.
func TestTruncatedTailAtEveryByte(t *testing.T) {
	src := t.TempDir()
	l, _, _ := open(t, src, Options{})
	put(t, l, 1, "first")
	put(t, l, 2, "second")
	before := l.Written()
	put(t, l, 3, "the last record, torn")
	frame := l.Written() - before
	require.NoError(t, l.Close())
	whole, err := os.ReadFile(segmentFile(t, src))
	require.NoError(t, err)

	for cut := int64(1); cut < frame; cut++ {
		t.Run(fmt.Sprint("cut ", cut), func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(segmentFile(t, src))), whole[:int64(len(whole))-cut], 0o600))
			l, c, damage := open(t, dir, Options{})
			require.Equal(t, []uint64{1, 2}, ids(c.Records))
			require.Len(t, damage, 1)
			require.Equal(t, int64(len(whole))-frame, damage[0].Offset)
			require.Equal(t, frame-cut, damage[0].Bytes)
			require.Contains(t, damage[0].String(), "truncated")
			put(t, l, 4, "after the damage")
			require.NoError(t, l.Close())
			_, c, damage = open(t, dir, Options{})
			require.Empty(t, damage, "the damaged segment was rewritten")
			require.Equal(t, []uint64{1, 2, 4}, ids(c.Records))
		})
	}
}

// A corrupted frame in the middle is skipped, and the records after it
// are kept.
func TestCorruptFrameIsSkipped(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, Options{})
	put(t, l, 1, "one")
	at := l.Written()
	put(t, l, 2, "two")
	put(t, l, 3, "three")
	require.NoError(t, l.Close())
	path := segmentFile(t, dir)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	data[int64(len(fileMagic))+at+frameHeader+2] ^= 0x40 // a bit flips in record 2's body
	require.NoError(t, os.WriteFile(path, data, 0o600))

	_, c, damage := open(t, dir, Options{})
	require.Equal(t, []uint64{1, 3}, ids(c.Records))
	require.Len(t, damage, 1)
	require.Equal(t, "checksum mismatch", damage[0].Reason)
	require.Equal(t, int64(len(fileMagic))+at, damage[0].Offset)
}

// A file extended but never written (zeros, as some file systems leave
// after a power loss) ends the replay of that file.
func TestZeroFilledTail(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, Options{})
	put(t, l, 1, "one")
	require.NoError(t, l.Close())
	f, err := os.OpenFile(segmentFile(t, dir), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 4096))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, c, damage := open(t, dir, Options{})
	require.Equal(t, []uint64{1}, ids(c.Records))
	require.Len(t, damage, 1)
	require.Equal(t, int64(4096), damage[0].Bytes)
}

func TestForeignFileIsNotASegment(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "segment-0000000000000001.log"), []byte("hello, not a queue"), 0o600))
	_, c, damage := open(t, dir, Options{})
	require.Empty(t, c.Records)
	require.Len(t, damage, 1)
	require.Contains(t, damage[0].Reason, "not a queue segment")
}

func TestMalformedFrameIsSkipped(t *testing.T) {
	dir := t.TempDir()
	// A frame with a good checksum but an unknown kind.
	var b Batch
	b.Put(1, []byte("kept"))
	frame := appendFrame(nil, 7, 2, []byte("x"))
	file := append([]byte(fileMagic), append(b.buf, frame...)...)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "segment-0000000000000001.log"), file, 0o600))
	_, c, damage := open(t, dir, Options{})
	require.Equal(t, []uint64{1}, ids(c.Records))
	require.Len(t, damage, 1)
	require.Equal(t, "malformed record", damage[0].Reason)
}

// Deleted records are compacted away once they are most of the file; the
// live ones keep their ids and data.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, Options{CompactAt: 4096})
	payload := strings.Repeat("x", 100)
	for id := uint64(1); id <= 100; id++ {
		put(t, l, id, payload)
	}
	require.False(t, l.NeedsCompaction(), "nothing deleted yet")
	for id := uint64(1); id <= 74; id++ {
		del(t, l, id)
	}
	require.False(t, l.NeedsCompaction(), "26 of 100 still live")
	del(t, l, 75)
	require.True(t, l.NeedsCompaction(), "a quarter live")
	old := segmentFile(t, dir)
	st, err := os.Stat(old)
	require.NoError(t, err)
	require.NoError(t, l.Compact())
	now := segmentFile(t, dir)
	require.NotEqual(t, old, now, "a fresh segment replaced the old one")
	st2, err := os.Stat(now)
	require.NoError(t, err)
	require.Less(t, st2.Size(), st.Size()/3)
	require.False(t, l.NeedsCompaction())
	put(t, l, 101, "after")
	del(t, l, 76)
	require.NoError(t, l.Close())

	_, c, damage := open(t, dir, Options{})
	require.Empty(t, damage)
	want := []uint64{}
	for id := uint64(77); id <= 101; id++ {
		want = append(want, id)
	}
	require.Equal(t, want, ids(c.Records))
	require.Equal(t, payload, string(c.Records[0].Data))
}

// A file whose records are all deleted is compacted sooner: there is
// nothing to copy.
func TestEmptiedFileIsCompactedEarly(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, Options{CompactAt: 32 << 10})
	for id := uint64(1); id <= 10; id++ {
		put(t, l, id, strings.Repeat("z", 100))
		del(t, l, id)
	}
	require.False(t, l.NeedsCompaction(), "%d bytes, under CompactAt/16", l.Written())
	for id := uint64(11); id <= 20; id++ {
		put(t, l, id, strings.Repeat("z", 100))
		del(t, l, id)
	}
	require.True(t, l.NeedsCompaction(), "%d bytes, all deleted", l.Written())
	require.NoError(t, l.Compact())
	st, err := os.Stat(segmentFile(t, dir))
	require.NoError(t, err)
	require.Equal(t, int64(len(fileMagic)), st.Size())
}

// A crash between writing the compacted segment and removing the old one
// leaves both: replay merges them, and deletes written after the
// compaction still hold.
func TestCrashMidCompaction(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, Options{})
	put(t, l, 1, "one")
	put(t, l, 2, "two")
	put(t, l, 3, "three")
	del(t, l, 1)
	old := segmentFile(t, dir)
	saved, err := os.ReadFile(old)
	require.NoError(t, err)
	require.NoError(t, l.Compact())
	del(t, l, 2) // after the compaction, in the new segment
	require.NoError(t, l.Close())
	require.NoError(t, os.WriteFile(old, saved, 0o600)) // as if its removal never reached the disk

	_, c, damage := open(t, dir, Options{})
	require.Empty(t, damage)
	require.Equal(t, []uint64{3}, ids(c.Records))
	segmentFile(t, dir) // and the two were merged into one
}

func TestAFileMostlyDeletedIsCompactedAtOpen(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, Options{CompactAt: 1024})
	for id := uint64(1); id <= 50; id++ {
		put(t, l, id, strings.Repeat("y", 50))
		if id < 50 {
			del(t, l, id)
		}
	}
	require.NoError(t, l.Close())
	before := segmentFile(t, dir)
	_, c, _ := open(t, dir, Options{CompactAt: 1024})
	require.Equal(t, []uint64{50}, ids(c.Records))
	require.NotEqual(t, before, segmentFile(t, dir))
}

// Concurrent writers and syncers: every record written is there after a
// reopen, and every Sync returns.
func TestConcurrentWritesAndSyncs(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, Options{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := uint64(0)
	for range 4 {
		wg.Go(func() {
			for range 50 {
				mu.Lock()
				next++
				id := next
				var b Batch
				b.Put(id, binary.AppendUvarint(nil, id))
				pos, err := l.Write(&b)
				mu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				if err := l.Sync(pos); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, l.Close())
	_, c, _ := open(t, dir, Options{})
	require.Len(t, c.Records, 200)
	for i, r := range c.Records {
		require.Equal(t, uint64(i+1), r.ID)
	}
}
