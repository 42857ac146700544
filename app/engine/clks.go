package engine

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// ErrEmpty is returned when an upload holds no records.
var ErrEmpty = errors.New("no CLKs: empty input")

// ErrRecordSize wraps a RecordDecoder error about a record's size (as opposed
// to bad base64): the service accepts such uploads and reports them later.
var ErrRecordSize = errors.New("bad CLK size")

// CLKs is a set of equal-size CLKs (Bloom-filter encodings), stored as
// little-endian uint64 words with precomputed popcounts. A CLKs is immutable
// once built and safe for concurrent use.
type CLKs struct {
	words  int      // uint64 words per record
	offset int      // absolute row number of row 0 (non-zero for views)
	data   []uint64 // Len()*words
	pops   []uint32 // popcount per record
}

// New builds CLKs from n records of size bytes each, back to back in data.
func New(data []byte, size int) (*CLKs, error) {
	if err := checkSize(size); err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, ErrEmpty
	}
	if len(data)%size != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of %d-byte CLKs", len(data), size)
	}
	c := alloc(len(data)/size, size)
	for i := range c.Len() {
		c.set(i, data[i*size:(i+1)*size])
	}
	return c, nil
}

// DecodeBase64 builds CLKs from standard-base64 strings, one per record.
// Errors name the first bad record: bad base64, a length that is not a
// positive multiple of 8 bytes, or a length different from record 0.
func DecodeBase64(encodings []string) (*CLKs, error) {
	if len(encodings) == 0 {
		return nil, ErrEmpty
	}
	var d RecordDecoder
	var c *CLKs
	for i, s := range encodings {
		b, err := d.Decode(s)
		if err != nil {
			return nil, err
		}
		if c == nil {
			c = alloc(len(encodings), len(b))
		}
		c.set(i, b)
	}
	return c, nil
}

// ReadBinary reads CLKs of size bytes each, back to back, from r. With
// count ≥ 0 exactly count records are expected (fewer bytes, or more, is an
// error); with count < 0 records are read until EOF. A truncated record is an
// error naming its index.
func ReadBinary(r io.Reader, size, count int) (*CLKs, error) {
	if err := checkSize(size); err != nil {
		return nil, err
	}
	if count == 0 {
		return nil, ErrEmpty
	}
	c := &CLKs{words: size / 8}
	if count > 0 {
		// count may come from a request header: trust it for at most 64 MiB
		// up front and let the rest grow as data actually arrives.
		pre := min(count, max(1, (64<<20)/size))
		c.data = make([]uint64, 0, pre*c.words)
		c.pops = make([]uint32, 0, pre)
	}
	buf := make([]byte, size)
	for i := 0; count < 0 || i < count; i++ {
		n, err := io.ReadFull(r, buf)
		if err == io.EOF && count < 0 {
			break
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if count < 0 {
				return nil, fmt.Errorf("record %d: truncated: %d of %d bytes", i, n, size)
			}
			return nil, fmt.Errorf("record %d: truncated: %d of %d bytes (expected %d records)", i, n, size, count)
		}
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i, err)
		}
		c.appendRecord(buf)
	}
	if len(c.pops) == 0 {
		return nil, ErrEmpty
	}
	if count > 0 {
		var one [1]byte
		if n, _ := io.ReadFull(r, one[:]); n > 0 {
			return nil, fmt.Errorf("trailing data after %d records of %d bytes", count, size)
		}
	}
	return c, nil
}

// RecordDecoder decodes and validates base64 CLKs one at a time, for callers
// that stream a JSON upload. The zero value learns the size from the first
// record; NewRecordDecoder fixes it in advance.
type RecordDecoder struct {
	size  int
	count int
	src   []byte
	buf   []byte
}

// NewRecordDecoder returns a decoder that requires every record to be size
// bytes (size ≤ 0: learn it from the first record).
func NewRecordDecoder(size int) *RecordDecoder {
	return &RecordDecoder{size: max(size, 0)}
}

// Decode decodes the next record. The returned slice is valid until the next
// call. Errors name the record index (the number of records decoded before).
func (d *RecordDecoder) Decode(s string) ([]byte, error) {
	i := d.count
	n := base64.StdEncoding.DecodedLen(len(s))
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	d.src = append(d.src[:0], s...)
	n, err := base64.StdEncoding.Decode(d.buf[:n], d.src)
	if err != nil {
		return nil, fmt.Errorf("record %d: bad base64: %w", i, err)
	}
	b := d.buf[:n]
	if d.size == 0 {
		if err := checkSize(n); err != nil {
			return nil, fmt.Errorf("record %d: %w (%w)", i, err, ErrRecordSize)
		}
		d.size = n
	} else if n != d.size {
		return nil, fmt.Errorf("record %d: %d bytes, but the CLKs are %d bytes (%w)", i, n, d.size, ErrRecordSize)
	}
	d.count++
	return b, nil
}

// Size is the record size in bytes (0 before the first record when learning).
func (d *RecordDecoder) Size() int { return d.size }

// Count is the number of records decoded so far.
func (d *RecordDecoder) Count() int { return d.count }

func checkSize(size int) error {
	if size <= 0 || size%8 != 0 {
		return fmt.Errorf("CLK length %d bytes is not a positive multiple of 8", size)
	}
	return nil
}

func alloc(n, size int) *CLKs {
	w := size / 8
	return &CLKs{words: w, data: make([]uint64, n*w), pops: make([]uint32, n)}
}

func (c *CLKs) set(i int, b []byte) {
	row := c.data[i*c.words : (i+1)*c.words]
	var p int
	for k := range row {
		row[k] = binary.LittleEndian.Uint64(b[8*k:])
		p += bits.OnesCount64(row[k])
	}
	c.pops[i] = uint32(p)
}

func (c *CLKs) appendRecord(b []byte) {
	var p int
	for k := range c.words {
		w := binary.LittleEndian.Uint64(b[8*k:])
		c.data = append(c.data, w)
		p += bits.OnesCount64(w)
	}
	c.pops = append(c.pops, uint32(p))
}

// Len is the number of records.
func (c *CLKs) Len() int { return len(c.pops) }

// Size is the record size in bytes.
func (c *CLKs) Size() int { return c.words * 8 }

// Offset is the absolute row number of row 0 (0 unless c is a view).
func (c *CLKs) Offset() int { return c.offset }

// Popcount is the number of bits set in row i (relative to the view).
func (c *CLKs) Popcount(i int) int { return int(c.pops[i]) }

// Slice returns a view of rows lo..hi (relative to c) sharing c's memory.
// Rows keep their absolute numbers: Slice(lo, hi).Offset() == c.Offset()+lo.
func (c *CLKs) Slice(lo, hi int) *CLKs {
	if lo < 0 || hi > c.Len() || lo > hi {
		panic(fmt.Sprintf("engine: Slice(%d, %d) out of range [0, %d]", lo, hi, c.Len()))
	}
	return &CLKs{
		words:  c.words,
		offset: c.offset + lo,
		data:   c.data[lo*c.words : hi*c.words : hi*c.words],
		pops:   c.pops[lo:hi:hi],
	}
}

// WithOffset returns a view of c's rows numbered from offset: rows read from
// the middle of an upload keep their absolute numbers.
func (c *CLKs) WithOffset(offset int) *CLKs {
	v := *c
	v.offset = offset
	return &v
}

// AppendRecord appends the bytes of row i (relative to the view) to dst.
func (c *CLKs) AppendRecord(dst []byte, i int) []byte {
	for _, w := range c.row(i) {
		dst = binary.LittleEndian.AppendUint64(dst, w)
	}
	return dst
}

// WriteBinary writes every record, back to back, in the binary upload form.
func (c *CLKs) WriteBinary(w io.Writer) error {
	buf := make([]byte, 0, 64<<10)
	for i := range c.Len() {
		buf = c.AppendRecord(buf, i)
		if len(buf)+c.Size() > cap(buf) || i == c.Len()-1 {
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("write CLKs: %w", err)
			}
			buf = buf[:0]
		}
	}
	return nil
}

func (c *CLKs) row(i int) []uint64 { return c.data[i*c.words : (i+1)*c.words] }
