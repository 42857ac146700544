package histogram

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/engine"
)

func randomCLKs(t *testing.T, rng *rand.Rand, n, size int, fill float64) *engine.CLKs {
	t.Helper()
	data := make([]byte, n*size)
	for i := range data {
		for bit := range 8 {
			if rng.Float64() < fill {
				data[i] |= 1 << bit
			}
		}
	}
	c, err := engine.New(data, size)
	require.NoError(t, err)
	return c
}

func TestBinEdges(t *testing.T) {
	h, err := New(0.5, 50, 1, 1)
	require.NoError(t, err)
	require.Equal(t, -1, h.Bin(0.4999999))
	require.Equal(t, 0, h.Bin(0.5))
	require.Equal(t, 30, h.Bin(0.8), "a score exactly on an edge starts its bin")
	require.Equal(t, 30, h.Bin(float64(2*400)/float64(1000)), "0.8 computed as Dice is")
	require.Equal(t, 29, h.Bin(float64(2*399)/float64(1000)))
	require.Equal(t, 49, h.Bin(1))
	lo, hi := h.Edges(30)
	require.Equal(t, 0.8, lo)
	require.Equal(t, 0.81, hi)
}

func TestNewValidates(t *testing.T) {
	for _, c := range []struct {
		floor, limit float64
		bins, stride int
	}{{0, 1, 10, 1}, {1, 1, 10, 1}, {0.5, 1, 0, 1}, {0.5, 1, 10, 0}, {0.5, 0, 10, 1}, {0.5, 1.1, 10, 1}} {
		_, err := New(c.floor, c.bins, c.stride, c.limit)
		require.Error(t, err, "%+v", c)
	}
}

// brute counts what Sample plus AddCandidates must count, pair by pair.
func brute(a, b *engine.CLKs, floor float64, bins, stride, offset int, shares func(i, j int) bool) *Histogram {
	h, _ := New(floor, bins, stride, 1)
	for i := range a.Len() {
		if (i+offset)%stride != 0 {
			continue
		}
		for j := range b.Len() {
			if shares != nil && !shares(i, j) {
				continue
			}
			h.Compared++
			if k := h.Bin(engine.Dice(a, i, b, j)); k >= 0 {
				h.Sampled[k]++
			}
		}
	}
	return h
}

func TestSampleMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := randomCLKs(t, rng, 301, 64, 0.3)
	b := randomCLKs(t, rng, 257, 64, 0.3)
	for _, stride := range []int{1, 3, 7} {
		for _, offset := range []int{0, 5} {
			h, err := New(0.3, 35, stride, 1)
			require.NoError(t, err)
			require.NoError(t, h.Sample(context.Background(), a.WithOffset(offset), b, engine.Options{Workers: 3}))
			want := brute(a, b, 0.3, 35, stride, offset, nil)
			require.Equal(t, want.Sampled, h.Sampled, "stride %d offset %d", stride, offset)
			require.Equal(t, want.Compared, h.Compared)
		}
	}
}

func TestSampleWithBlocking(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := randomCLKs(t, rng, 120, 32, 0.4)
	b := randomCLKs(t, rng, 90, 32, 0.4)
	blocks := func(n, mod int) [][]string {
		out := make([][]string, n)
		for i := range out {
			out[i] = []string{strconv.Itoa(i % mod), strconv.Itoa(i % mod)} // listed twice: counted once
			if i%4 == 0 {
				out[i] = append(out[i], "shared")
			}
		}
		return out
	}
	ba, bb := blocks(a.Len(), 5), blocks(b.Len(), 5)
	h, err := New(0.2, 40, 2, 1)
	require.NoError(t, err)
	require.NoError(t, h.Sample(context.Background(), a, b, engine.Options{BlocksA: ba, BlocksB: bb}))
	want := brute(a, b, 0.2, 40, 2, 0, func(i, j int) bool { return i%5 == j%5 || (i%4 == 0 && j%4 == 0) })
	require.Equal(t, want.Sampled, h.Sampled)
	require.Equal(t, want.Compared, h.Compared)

	require.Error(t, h.Sample(context.Background(), a, b, engine.Options{BlocksA: ba}), "blocks of one side only")
}

func TestExactAboveLimitSampledBelow(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	a := randomCLKs(t, rng, 200, 32, 0.5)
	b := randomCLKs(t, rng, 200, 32, 0.5)
	const threshold = 0.55
	cands, err := engine.Compare(context.Background(), a, b, engine.Options{Threshold: threshold, PartyB: 1})
	require.NoError(t, err)
	require.NotEmpty(t, cands)
	h, err := New(0.4, 60, 1, threshold)
	require.NoError(t, err)
	require.NoError(t, h.Sample(context.Background(), a, b, engine.Options{}))
	h.AddCandidates(cands)
	all := brute(a, b, 0.4, 60, 1, 0, nil)
	for i := range h.Bins {
		require.Equal(t, all.Sampled[i], h.Count(i), "bin %d", i)
	}
}

func TestCancelled(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	a := randomCLKs(t, rng, 50, 16, 0.5)
	h, _ := New(0.5, 10, 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, h.Sample(ctx, a, a, engine.Options{}), context.Canceled)
}

func TestMergeAndJSON(t *testing.T) {
	h, _ := New(0.5, 5, 4, 0.8)
	o, _ := New(0.5, 5, 4, 0.8)
	h.AddExact(0.9)
	h.Sampled[0], h.Compared = 3, 100
	o.AddExact(0.95)
	o.Sampled[1], o.Compared = 2, 50
	require.NoError(t, h.Merge(o))
	require.Equal(t, []int64{0, 0, 0, 0, 2}, h.Exact)
	require.Equal(t, int64(12), h.Count(0), "sampled counts stand for stride times as many pairs")

	other, _ := New(0.5, 5, 1, 0.8)
	require.Error(t, h.Merge(other))

	b, err := json.Marshal(h)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	require.EqualValues(t, 600, m["comparisons"])
	bins := m["bins"].([]any)
	require.Len(t, bins, 5)
	require.Equal(t, map[string]any{"lo": 0.5, "hi": 0.6, "count": 12.0, "exact": false}, bins[0])
	require.Equal(t, map[string]any{"lo": 0.9, "hi": 1.0, "count": 2.0, "exact": true}, bins[4])

	var back Histogram
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, *h, back)

	for _, bad := range []string{`{`, `{"floor":2,"exact_counts":[1],"sampled_counts":[1],"sample_stride":1,"exact_from":1}`,
		`{"floor":0.5,"exact_counts":[1],"sampled_counts":[],"sample_stride":1,"exact_from":1}`,
		`{"floor":0.5,"exact_counts":[-1],"sampled_counts":[0],"sample_stride":1,"exact_from":1}`} {
		require.Error(t, json.Unmarshal([]byte(bad), &back), bad)
	}
}

func TestStrideFor(t *testing.T) {
	require.Equal(t, 1, StrideFor(1000, 0))
	require.Equal(t, 1, StrideFor(1000, 1000))
	require.Equal(t, 2, StrideFor(1001, 1000))
	require.Equal(t, 100, StrideFor(100_000_000, 1_000_000))
}

// wellFormed parses the SVG as XML and returns its text content.
func wellFormed(t *testing.T, svg []byte) string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if c, ok := tok.(xml.CharData); ok {
			text.Write(c)
			text.WriteString("|")
		}
	}
	return text.String()
}

func TestSVG(t *testing.T) {
	h, _ := New(0.5, 50, 1, 0.8)
	for i := range 50 {
		for range i * i * 10 {
			h.AddExact(0.5 + float64(i)*0.01 + 0.001)
		}
	}
	h.Compared = 1_234_567
	var buf bytes.Buffer
	require.NoError(t, WriteSVG(&buf, h, SVGOptions{Log: true, Threshold: 0.8, Title: "a <title> & more"}))
	text := wellFormed(t, buf.Bytes())
	for _, want := range []string{"a <title> & more", "threshold 0.8", "pairs (log scale)", "Dice similarity", "|1|", "|10|", "|100k|", "|0.5|", "|0.75|", "|1|"} {
		require.Contains(t, text, want)
	}
	require.Equal(t, 49, strings.Count(buf.String(), "<rect x="), "one bar per non-empty bin")

	buf.Reset()
	h.Stride, h.Sampled[3] = 10, 5
	require.NoError(t, WriteSVG(&buf, h, SVGOptions{}))
	text = wellFormed(t, buf.Bytes())
	require.Contains(t, text, "of 12.3M compared pairs")
	require.Contains(t, text, "estimated from every 10th row")
	require.NotContains(t, text, "log scale")
	require.NotContains(t, text, "threshold")
}

func TestHumanCount(t *testing.T) {
	require.Equal(t, "999", humanCount(999))
	require.Equal(t, "1.2k", humanCount(1200))
	require.Equal(t, "3M", humanCount(3_000_000))
	require.Equal(t, "2nd", ordinal(2))
	require.Equal(t, "11th", ordinal(11))
	require.Equal(t, 5.0, niceStep(4.2))
	require.Equal(t, 2000.0, niceStep(1100))
}

func BenchmarkSample(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	t := &testing.T{}
	x := randomCLKs(t, rng, 1000, 128, 0.3)
	y := randomCLKs(t, rng, 1000, 128, 0.3)
	h, _ := New(0.5, 50, 1, 1)
	b.SetBytes(int64(x.Len() * y.Len())) // "bytes" = pairs
	for b.Loop() {
		if err := h.Sample(context.Background(), x, y, engine.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEngineCompare is the run's own cost on the same pairs, for the ratio to BenchmarkSample.
func BenchmarkEngineCompare(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	t := &testing.T{}
	x := randomCLKs(t, rng, 1000, 128, 0.3)
	y := randomCLKs(t, rng, 1000, 128, 0.3)
	b.SetBytes(int64(x.Len() * y.Len()))
	for b.Loop() {
		if _, err := engine.Compare(context.Background(), x, y, engine.Options{Threshold: 0.8, PartyB: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzHistogramJSON: a stored histogram is read back exactly, and any other input is an error
// or a histogram that renders.
func FuzzHistogramJSON(f *testing.F) {
	h, _ := New(0.5, 5, 3, 0.8)
	h.AddExact(0.9)
	h.Sampled[1], h.Compared = 4, 77
	seed, _ := json.Marshal(h)
	f.Add(seed)
	f.Add([]byte(`{"floor":0.5,"sample_stride":1,"exact_from":1,"exact_counts":[1,2],"sampled_counts":[0,0]}`))
	f.Add([]byte(`{"floor":0.99,"sample_stride":9,"exact_from":0.5,"exact_counts":[],"sampled_counts":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var h Histogram
		if json.Unmarshal(data, &h) != nil {
			return
		}
		again, err := json.Marshal(&h)
		require.NoError(t, err)
		var back Histogram
		require.NoError(t, json.Unmarshal(again, &back))
		require.Equal(t, h, back)
		require.NoError(t, WriteSVG(io.Discard, &h, SVGOptions{Log: true, Threshold: h.Limit}))
	})
}
