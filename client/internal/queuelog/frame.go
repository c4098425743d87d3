package queuelog

import (
	"encoding/binary"
	"hash/crc32"
)

// A segment file starts with fileMagic, then holds frames, one per record:
//
//	length uint32 LE | CRC-32C uint32 LE of the body | body (length bytes)
//	body = kind byte | id uvarint | data (puts only)
//
// A put adds the record id with its data; a delete removes id. The
// checksum covers the body, so a torn or flipped frame is detected, and the
// length lets replay step over a frame whose body is damaged.
const fileMagic = "IMQTTQ1\n"

const (
	frameHeader = 8
	kindPut     = 1
	kindDelete  = 2
	// maxBody bounds a frame's body: an MQTT payload (at most 256 MiB) with
	// its topic and a little framing. A larger length is damage.
	maxBody = 1<<28 + 1<<17
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendFrame appends one frame to buf, its data the concatenation of
// parts.
func appendFrame(buf []byte, kind byte, id uint64, parts ...[]byte) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, frameHeader)...)
	buf = append(buf, kind)
	buf = binary.AppendUvarint(buf, id)
	for _, p := range parts {
		buf = append(buf, p...)
	}
	body := buf[start+frameHeader:]
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(body)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(body, castagnoli))
	return buf
}

// parseHeader returns a frame's body length and checksum.
func parseHeader(h []byte) (length int64, sum uint32) {
	return int64(binary.LittleEndian.Uint32(h)), binary.LittleEndian.Uint32(h[4:])
}

// parseBody splits a checked body into its kind, id and data; ok is false
// if it is not a well-formed put or delete.
func parseBody(body []byte) (kind byte, id uint64, data []byte, ok bool) {
	if len(body) < 2 {
		return 0, 0, nil, false
	}
	kind = body[0]
	id, n := binary.Uvarint(body[1:])
	if n <= 0 {
		return 0, 0, nil, false
	}
	data = body[1+n:]
	switch {
	case kind == kindPut:
		return kind, id, data, true
	case kind == kindDelete && len(data) == 0:
		return kind, id, nil, true
	}
	return 0, 0, nil, false
}
