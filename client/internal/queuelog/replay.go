package queuelog

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"slices"
)

// Record is one record of the log: an id, unique and ordering the records,
// and its data.
type Record struct {
	ID   uint64
	Data []byte
}

// Damage is a stretch of a segment file that replay could not read and
// skipped: a truncated or torn tail (power lost mid-write) or a corrupted
// frame. The records before it are kept.
type Damage struct {
	File   string // the segment file
	Offset int64  // where the damaged stretch starts
	Bytes  int64  // how long it is
	Reason string
}

func (d Damage) String() string {
	return fmt.Sprintf("%s at offset %d: %s (%d bytes skipped)", d.File, d.Offset, d.Reason, d.Bytes)
}

// replay builds the live records from the segment files, in order: a put
// adds its record (again, after a compaction a crash interrupted), a delete
// removes it.
type replay struct {
	index   map[uint64]int // id → its entry, while live
	entries []entry        // puts in file order
	puts    int            // put frames read
	maxID   uint64         // the largest id of any frame read
	damage  []Damage
}

type entry struct {
	Record
	dead bool
}

func newReplay() *replay { return &replay{index: make(map[uint64]int)} }

func (rp *replay) put(id uint64, data []byte) {
	rp.puts++
	rp.maxID = max(rp.maxID, id)
	if i, ok := rp.index[id]; ok {
		rp.entries[i].Data = data
		return
	}
	rp.index[id] = len(rp.entries)
	rp.entries = append(rp.entries, entry{Record: Record{ID: id, Data: data}})
}

func (rp *replay) delete(id uint64) {
	rp.maxID = max(rp.maxID, id)
	if i, ok := rp.index[id]; ok {
		rp.entries[i].dead = true
		rp.entries[i].Data = nil
		delete(rp.index, id)
	}
}

// live returns the live records in id order.
func (rp *replay) live() []Record {
	out := make([]Record, 0, len(rp.index))
	for _, e := range rp.entries {
		if !e.dead {
			out = append(out, e.Record)
		}
	}
	slices.SortStableFunc(out, func(a, b Record) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// file replays one segment file. A frame whose checksum fails is skipped
// (its length is believed while it stays inside the file); a frame that
// runs past the end of the file, or a length no frame can have, ends the
// file: the rest is skipped.
func (rp *replay) file(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	r := bufio.NewReaderSize(f, 64<<10)
	damaged := func(off, n int64, format string, args ...any) {
		rp.damage = append(rp.damage, Damage{File: path, Offset: off, Bytes: n, Reason: fmt.Sprintf(format, args...)})
	}
	magic := make([]byte, len(fileMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != fileMagic {
		damaged(0, size, "not a queue segment (bad or missing header)")
		return nil
	}
	off := int64(len(fileMagic))
	var header [frameHeader]byte
	for off < size {
		if _, err := io.ReadFull(r, header[:]); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				damaged(off, size-off, "truncated record header")
				return nil
			}
			return err
		}
		length, sum := parseHeader(header[:])
		if length < 2 || length > maxBody || off+frameHeader+length > size {
			damaged(off, size-off, "truncated or corrupt record (length %d, %d bytes left in the file)", length, size-off-frameHeader)
			return nil
		}
		body := make([]byte, length)
		if _, err := io.ReadFull(r, body); err != nil {
			return err
		}
		n := frameHeader + length
		kind, id, data, ok := parseBody(body)
		switch {
		case crc32.Checksum(body, castagnoli) != sum:
			damaged(off, n, "checksum mismatch")
		case !ok:
			damaged(off, n, "malformed record")
		case kind == kindPut:
			rp.put(id, data)
		default:
			rp.delete(id)
		}
		off += n
	}
	return nil
}
