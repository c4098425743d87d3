package queuelog_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iotmqtt/iotmqtt/client/internal/queuelog"
	"github.com/iotmqtt/iotmqtt/internal/testenv"
)

// A full disk is an error on the write, and the batch leaves nothing
// behind: what was written before stays readable, and writing succeeds
// again once a record fits.
func TestFullDisk(t *testing.T) {
	dir := testenv.SmallFileSystem(t, 64<<10)
	l, _, err := queuelog.Open(dir, queuelog.Options{})
	require.NoError(t, err)
	var b queuelog.Batch
	b.Put(1, []byte("before the disk filled"))
	_, err = l.Write(&b)
	require.NoError(t, err)
	big := make([]byte, 16<<10)
	id := uint64(2)
	for ; id < 100; id++ {
		b.Reset()
		b.Put(id, big)
		if _, err = l.Write(&b); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.ErrorContains(t, err, "queuelog: write")
	b.Reset()
	b.Put(id, []byte("small enough"))
	_, err = l.Write(&b)
	require.NoError(t, err, "a record that fits still goes in")
	require.NoError(t, l.Close())

	var damage []queuelog.Damage
	l, c, err := queuelog.Open(dir, queuelog.Options{Damaged: func(d queuelog.Damage) { damage = append(damage, d) }})
	require.NoError(t, err)
	defer l.Close()
	require.Empty(t, damage, "the failed write left no partial record")
	require.Len(t, c.Records, int(id))
	require.Equal(t, "small enough", string(c.Records[len(c.Records)-1].Data))
}
