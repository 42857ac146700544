package linkage_test

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
)

// FuzzBlocks checks the blocks blob codec: what BlocksWriter writes reads back as written, and
// arbitrary bytes are an error or a value, never a panic.
func FuzzBlocks(f *testing.F) {
	f.Add([]byte("a\x00b\x01c"), int64(0), int64(3))
	f.Add([]byte("\"\\\x00\xff\x00"), int64(1), int64(2))
	f.Add([]byte(`{"r":1,"b":["x"]}`+"\n"), int64(0), int64(5))
	f.Add([]byte(`{"r":-1,"b":["x"]}`), int64(0), int64(1))
	f.Fuzz(func(t *testing.T, data []byte, lo, hi int64) {
		if lo < 0 || hi < lo || hi-lo > 1<<12 {
			return
		}
		// Arbitrary input as a stored blob; where it is indexed, a range read finds what a whole
		// read finds.
		whole, err := linkage.ReadBlocks(bytes.NewReader(data), lo, hi)
		if x, _ := linkage.IndexBlocks(bytes.NewReader(data), 2); x != nil && err == nil {
			requireRangeRead(t, x, data, lo, hi, whole)
		}
		if !utf8.Valid(data) {
			return
		}

		// Round trip (block ids come from JSON strings, so they are valid UTF-8): data splits into rows (at 0x00) of blocks (at 0x01).
		rows := bytes.Split(data, []byte{0})
		var buf bytes.Buffer
		w := linkage.NewBlocksWriter(&buf)
		want := make([][]string, len(rows))
		for i, r := range rows {
			if len(r) == 0 {
				continue // a row without blocks is not written
			}
			for _, b := range bytes.Split(r, []byte{1}) {
				want[i] = append(want[i], string(b))
			}
			require.NoError(t, w.Write(int64(i), want[i]))
		}
		require.NoError(t, w.Flush())
		blob := buf.Bytes()
		got, err := linkage.ReadBlocks(bytes.NewReader(blob), 0, int64(len(rows)))
		require.NoError(t, err)
		for i := range want {
			require.Equal(t, want[i], got[i], "row %d", i)
		}
		// Written in row order, so indexed: a range read finds the rows lo..hi-1.
		x, err := linkage.IndexBlocks(bytes.NewReader(blob), 2)
		require.NoError(t, err)
		require.NotNil(t, x)
		if hi <= int64(len(rows)) {
			requireRangeRead(t, x, blob, lo, hi, want[lo:hi])
		}
	})
}

// requireRangeRead reads rows lo..hi-1 from the part of blob x locates and compares with want.
func requireRangeRead(t *testing.T, x *linkage.BlocksIndex, blob []byte, lo, hi int64, want [][]string) {
	t.Helper()
	off, n := x.Range(lo, hi)
	require.True(t, off >= 0 && n >= 0 && off+n <= int64(len(blob)), "range %d+%d of %d bytes", off, n, len(blob))
	got, err := linkage.ReadBlocks(bytes.NewReader(blob[off:off+n]), lo, hi)
	require.NoError(t, err)
	for i := range want {
		require.Equal(t, want[i], got[i], "row %d", lo+int64(i))
	}
}
