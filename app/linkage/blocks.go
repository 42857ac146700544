package linkage

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// The blocks blob of an upload (BlocksKey) holds, one JSON line per record that has blocks,
// {"r": row, "b": ["block-id", ...]}. Uploads write it while streaming; workers read the rows
// of their chunk.

type blockLine struct {
	Row    int64    `json:"r"`
	Blocks []string `json:"b"`
}

// BlocksWriter writes a blocks blob.
type BlocksWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

// NewBlocksWriter writes to w; call Flush at the end.
func NewBlocksWriter(w io.Writer) *BlocksWriter {
	bw := bufio.NewWriter(w)
	return &BlocksWriter{w: bw, enc: json.NewEncoder(bw)}
}

// Write records the blocks of row.
func (b *BlocksWriter) Write(row int64, blocks []string) error {
	if err := b.enc.Encode(blockLine{Row: row, Blocks: blocks}); err != nil {
		return fmt.Errorf("write blocks of record %d: %w", row, err)
	}
	return nil
}

// Flush writes buffered lines.
func (b *BlocksWriter) Flush() error { return b.w.Flush() }

// ReadBlocks reads a blocks blob and returns the blocks of rows lo..hi-1, indexed from lo.
// Rows without a line have no block (they are compared with nothing).
func ReadBlocks(r io.Reader, lo, hi int64) ([][]string, error) {
	return ReadBlocksOf(r, int(hi-lo), func(row int64) int64 { return row - lo })
}

// ReadBlocksOf reads a blocks blob and returns the blocks of n rows: row r goes to index(r)
// when that is in 0..n-1 (a sample of rows, or a range).
func ReadBlocksOf(r io.Reader, n int, index func(row int64) int64) ([][]string, error) {
	out := make([][]string, n)
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var l blockLine
		err := dec.Decode(&l)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read blocks: %w", err)
		}
		if i := index(l.Row); i >= 0 && i < int64(n) {
			out[i] = append(out[i], l.Blocks...)
		}
	}
}

// BlocksIndex locates rows in a blocks blob whose lines ascend by row (uploads write them in
// record order unless a blocks map lists its records out of order), so that a chunk reads the
// lines of its own rows instead of the whole blob.
type BlocksIndex struct {
	every   int64
	offsets []int64 // offsets[k]: where the first line of a row ≥ k·every starts (after the line before)
	size    int64
}

// Range is the part of the blob (offset, length) holding every line of rows lo..hi-1.
func (x *BlocksIndex) Range(lo, hi int64) (offset, length int64) {
	at := func(k int64) int64 {
		if k < int64(len(x.offsets)) {
			return x.offsets[k]
		}
		return x.size
	}
	start, end := at(lo/x.every), at((hi+x.every-1)/x.every)
	return start, end - start
}

// IndexBlocks reads a whole blocks blob and indexes every every-th row; nil when its rows do
// not ascend (then only whole reads find a row's lines).
func IndexBlocks(r io.Reader, every int64) (*BlocksIndex, error) {
	x := &BlocksIndex{every: every}
	dec := json.NewDecoder(bufio.NewReader(r))
	prev := int64(-1)
	for {
		start := dec.InputOffset() // the end of the line before: white space to the decoder
		var l struct {
			Row int64 `json:"r"`
		}
		err := dec.Decode(&l)
		if err == io.EOF {
			x.size = dec.InputOffset()
			return x, nil
		}
		if err != nil {
			return nil, fmt.Errorf("index blocks: %w", err)
		}
		if l.Row < prev {
			return nil, nil
		}
		prev = l.Row
		for int64(len(x.offsets))*every <= l.Row {
			x.offsets = append(x.offsets, start)
		}
	}
}
