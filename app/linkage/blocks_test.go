package linkage_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
)

// A blob written in row order is indexed every 4 rows: rows 9..10 (row 8 has no line) are
// read from the bytes between row 8's slot and row 12's, not from the whole blob.
func TestBlocksIndex(t *testing.T) {
	var buf bytes.Buffer
	w := linkage.NewBlocksWriter(&buf)
	var starts []int // where each line ends
	for _, row := range []int64{0, 1, 5, 9, 10, 13, 20} {
		require.NoError(t, w.Write(row, []string{strings.Repeat("b", int(row))}))
		require.NoError(t, w.Flush())
		starts = append(starts, buf.Len())
	}
	blob := bytes.Clone(buf.Bytes())
	x, err := linkage.IndexBlocks(bytes.NewReader(blob), 4)
	require.NoError(t, err)
	require.NotNil(t, x)
	off, n := x.Range(9, 11)
	// Offsets are where the decoder finished the line before: its newline.
	require.Equal(t, int64(starts[2]-1), off, "from the line of row 9 (the first row ≥ 8)")
	require.Equal(t, int64(starts[4]-1), off+n, "up to the line of row 13 (the first row ≥ 12)")
	requireRangeRead(t, x, blob, 9, 11, [][]string{{strings.Repeat("b", 9)}, {strings.Repeat("b", 10)}})
	off, n = x.Range(14, 30)
	require.Equal(t, int64(starts[4]-1), off, "from the line of row 13")
	require.Equal(t, int64(len(blob)-1), off+n, "to the end of the last line (its newline aside)")

	// Out of order (a blocks map may list records so): no index.
	var unordered bytes.Buffer
	w = linkage.NewBlocksWriter(&unordered)
	require.NoError(t, w.Write(3, []string{"x"}))
	require.NoError(t, w.Write(1, []string{"y"}))
	require.NoError(t, w.Flush())
	x, err = linkage.IndexBlocks(&unordered, 4)
	require.NoError(t, err)
	require.Nil(t, x)
}
