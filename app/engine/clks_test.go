package engine

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeBase64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	raw := randomBytes(rng, 5, 128, 0.5)
	c, err := DecodeBase64(toBase64(raw, 128))
	require.NoError(t, err)
	require.Equal(t, 5, c.Len())
	require.Equal(t, 128, c.Size())
	var back []byte
	for i := range c.Len() {
		back = c.AppendRecord(back, i)
	}
	require.Equal(t, raw, back)
	for i := range c.Len() {
		want := 0
		for _, x := range raw[i*128 : (i+1)*128] {
			want += bitsIn(x)
		}
		require.Equal(t, want, c.Popcount(i))
	}
}

func bitsIn(x byte) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

func TestDecodeBase64Errors(t *testing.T) {
	ok := base64.StdEncoding.EncodeToString(make([]byte, 16))
	for name, tc := range map[string]struct {
		in   []string
		want string
	}{
		"empty":          {nil, "empty input"},
		"bad base64":     {[]string{ok, "!!!notbase64"}, "record 1: bad base64"},
		"unequal":        {[]string{ok, ok, base64.StdEncoding.EncodeToString(make([]byte, 24))}, "record 2: 24 bytes, but the CLKs are 16 bytes"},
		"not multiple 8": {[]string{base64.StdEncoding.EncodeToString(make([]byte, 12))}, "record 0: CLK length 12 bytes is not a positive multiple of 8"},
		"empty record":   {[]string{""}, "record 0: CLK length 0 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeBase64(tc.in)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestRecordDecoder(t *testing.T) {
	d := NewRecordDecoder(16)
	b, err := d.Decode(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 16)))
	require.NoError(t, err)
	require.Equal(t, bytes.Repeat([]byte{0xff}, 16), b)
	_, err = d.Decode(base64.StdEncoding.EncodeToString(make([]byte, 8)))
	require.ErrorContains(t, err, "record 1: 8 bytes, but the CLKs are 16 bytes")
	require.Equal(t, 1, d.Count())
	require.Equal(t, 16, d.Size())
}

func TestReadBinary(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	raw := randomBytes(rng, 7, 64, 0.3)
	c, err := ReadBinary(bytes.NewReader(raw), 64, 7)
	require.NoError(t, err)
	require.Equal(t, 7, c.Len())
	var out bytes.Buffer
	require.NoError(t, c.WriteBinary(&out))
	require.Equal(t, raw, out.Bytes())

	c, err = ReadBinary(bytes.NewReader(raw), 64, -1)
	require.NoError(t, err)
	require.Equal(t, 7, c.Len())

	_, err = ReadBinary(bytes.NewReader(raw[:64*6+10]), 64, 7)
	require.ErrorContains(t, err, "record 6: truncated: 10 of 64 bytes (expected 7 records)")
	_, err = ReadBinary(bytes.NewReader(raw[:64*6]), 64, 7)
	require.ErrorContains(t, err, "record 6: truncated: 0 of 64 bytes")
	_, err = ReadBinary(bytes.NewReader(raw[:64*6+10]), 64, -1)
	require.ErrorContains(t, err, "record 6: truncated: 10 of 64 bytes")
	_, err = ReadBinary(bytes.NewReader(raw), 64, 6)
	require.ErrorContains(t, err, "trailing data after 6 records")
	_, err = ReadBinary(bytes.NewReader(nil), 64, -1)
	require.ErrorIs(t, err, ErrEmpty)
	_, err = ReadBinary(bytes.NewReader(raw), 60, -1)
	require.ErrorContains(t, err, "not a positive multiple of 8")
	_, err = ReadBinary(bytes.NewReader(raw), 64, 1<<50) // a lying count must not allocate up front
	require.ErrorContains(t, err, "record 7: truncated: 0 of 64 bytes")
	_, err = ReadBinary(strings.NewReader(""), 64, 0)
	require.ErrorIs(t, err, ErrEmpty)
}

func TestNew(t *testing.T) {
	_, err := New(make([]byte, 100), 64)
	require.ErrorContains(t, err, "100 bytes is not a whole number of 64-byte CLKs")
	_, err = New(nil, 64)
	require.ErrorIs(t, err, ErrEmpty)
}

func TestSlice(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	raw := randomBytes(rng, 10, 16, 0.5)
	c := mustNew(t, raw, 16)
	v := c.Slice(3, 8)
	require.Equal(t, 5, v.Len())
	require.Equal(t, 3, v.Offset())
	w := v.Slice(1, 3)
	require.Equal(t, 4, w.Offset())
	require.Equal(t, raw[4*16:5*16], w.AppendRecord(nil, 0))
	require.Equal(t, c.Popcount(5), w.Popcount(1))
	require.Panics(t, func() { c.Slice(5, 11) })
}
