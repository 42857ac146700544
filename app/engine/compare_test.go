package engine

import (
	"context"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// clustered returns two parties whose records are noisy copies of a shared
// population, so many pairs cross typical thresholds.
func clustered(t testing.TB, seed uint64, n1, n2, size int) (*CLKs, *CLKs) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	pop := randomBytes(rng, max(n1, n2)/2+1, size, 0.35)
	a := mustNew(t, noisyCopies(rng, pop, size, n1, 0.06), size)
	b := mustNew(t, noisyCopies(rng, pop, size, n2, 0.06), size)
	return a, b
}

func TestCompareMatchesBruteForce(t *testing.T) {
	for _, size := range []int{8, 40, 128, 256} {
		a, b := clustered(t, uint64(size), 301, 277, size)
		for _, thr := range []float64{0.5, 0.7, 0.8, 0.9, 1} {
			want := bruteForce(a, b, thr, 2, 4)
			for _, k := range kernels() {
				withKernel(t, k)
				for _, workers := range []int{1, 3} {
					got, err := Compare(context.Background(), a, b, Options{Threshold: thr, Workers: workers, PartyA: 2, PartyB: 4})
					require.NoError(t, err)
					require.Equal(t, want, got, "kernel %s size %d t %v", k.name, size, thr)
				}
			}
		}
	}
}

func TestCompareFindsHits(t *testing.T) {
	a, b := clustered(t, 11, 500, 500, 128)
	got, err := Compare(context.Background(), a, b, Options{Threshold: 0.8, PartyB: 1})
	require.NoError(t, err)
	require.Greater(t, len(got), 200, "the test data must produce hits to be meaningful")
}

func TestCompareViewsUseAbsoluteRows(t *testing.T) {
	a, b := clustered(t, 12, 400, 380, 128)
	all, err := Compare(context.Background(), a, b, Options{Threshold: 0.75, PartyB: 1})
	require.NoError(t, err)
	// Chunks of a 2×3 grid together give exactly the whole.
	var parts [][]Candidate
	for _, ra := range [][2]int{{0, 150}, {150, 400}} {
		for _, rb := range [][2]int{{0, 100}, {100, 101}, {101, 380}} {
			c, err := Compare(context.Background(), a.Slice(ra[0], ra[1]), b.Slice(rb[0], rb[1]), Options{Threshold: 0.75, PartyB: 1})
			require.NoError(t, err)
			require.Equal(t, bruteForce(a.Slice(ra[0], ra[1]), b.Slice(rb[0], rb[1]), 0.75, 0, 1), c)
			parts = append(parts, c)
		}
	}
	require.Equal(t, all, MergeCandidates(0, parts...))
}

func TestCompareTopK(t *testing.T) {
	a, b := clustered(t, 13, 200, 300, 64)
	all := bruteForce(a, b, 0.6, 0, 1)
	for _, k := range []int{1, 2, 5} {
		got, err := Compare(context.Background(), a, b, Options{Threshold: 0.6, PartyB: 1, TopK: k})
		require.NoError(t, err)
		// Reference: per row of a, the k first in solver order.
		perRow := map[int32]int{}
		var want []Candidate
		for _, c := range all {
			if perRow[c.A.Row] < k {
				perRow[c.A.Row]++
				want = append(want, c)
			}
		}
		require.Equal(t, want, got)
		// Chunks computed with the limit merge into the limit of the whole.
		c1, err := Compare(context.Background(), a, b.Slice(0, 120), Options{Threshold: 0.6, PartyB: 1, TopK: k})
		require.NoError(t, err)
		c2, err := Compare(context.Background(), a, b.Slice(120, 300), Options{Threshold: 0.6, PartyB: 1, TopK: k})
		require.NoError(t, err)
		require.Equal(t, want, MergeCandidates(k, c1, c2))
	}
}

func TestCompareBlocking(t *testing.T) {
	a, b := clustered(t, 14, 250, 260, 128)
	rng := rand.New(rand.NewPCG(9, 9))
	blocksOf := func(n int) [][]string {
		out := make([][]string, n)
		for i := range out {
			for range rng.IntN(3) {
				out[i] = append(out[i], "b"+strconv.Itoa(rng.IntN(4)))
			}
		}
		return out
	}
	ba, bb := blocksOf(a.Len()), blocksOf(b.Len())
	shares := func(i, j int) bool {
		for _, x := range ba[i] {
			if slices.Contains(bb[j], x) {
				return true
			}
		}
		return false
	}
	var want []Candidate
	for _, c := range bruteForce(a, b, 0.7, 0, 1) {
		if shares(int(c.A.Row), int(c.B.Row)) {
			want = append(want, c)
		}
	}
	require.NotEmpty(t, want)
	var last int64
	got, err := Compare(context.Background(), a, b, Options{Threshold: 0.7, PartyB: 1, BlocksA: ba, BlocksB: bb, Workers: 2,
		Progress: func(d int64) { require.GreaterOrEqual(t, d, last); last = d }})
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, int64(a.Len()*b.Len()), last)

	// Views: blocks are indexed like the view's rows.
	got, err = Compare(context.Background(), a.Slice(50, 250), b, Options{Threshold: 0.7, PartyB: 1, BlocksA: ba[50:], BlocksB: bb})
	require.NoError(t, err)
	var wantView []Candidate
	for _, c := range want {
		if c.A.Row >= 50 {
			wantView = append(wantView, c)
		}
	}
	require.Equal(t, wantView, got)
}

func TestCompareProgressAndCancel(t *testing.T) {
	a, b := clustered(t, 15, 1000, 700, 128)
	var mu sync.Mutex
	var seen []int64
	_, err := Compare(context.Background(), a, b, Options{Threshold: 0.8, PartyB: 1, Workers: 2, Progress: func(d int64) {
		mu.Lock()
		seen = append(seen, d)
		mu.Unlock()
	}})
	require.NoError(t, err)
	require.True(t, slices.IsSorted(seen))
	require.Equal(t, int64(1000*700), seen[len(seen)-1])

	ctx, cancel := context.WithCancel(context.Background())
	_, err = Compare(ctx, a, b, Options{Threshold: 0.8, PartyB: 1, Progress: func(int64) { cancel() }})
	require.ErrorIs(t, err, context.Canceled)
}

func TestCompareErrors(t *testing.T) {
	a := mustNew(t, make([]byte, 64), 16)
	b := mustNew(t, make([]byte, 64), 32)
	ctx := context.Background()
	_, err := Compare(ctx, a, b, Options{Threshold: 0.8, PartyB: 1})
	require.ErrorContains(t, err, "CLKs differ in size: 16 and 32 bytes")
	for _, thr := range []float64{0, -1, 1.01} {
		_, err = Compare(ctx, a, a, Options{Threshold: thr, PartyB: 1})
		require.ErrorContains(t, err, "not in (0, 1]")
	}
	_, err = Compare(ctx, a, a, Options{Threshold: 0.5, PartyB: 1, TopK: -1})
	require.ErrorContains(t, err, "top-k -1 is negative")
	_, err = Compare(ctx, a, a, Options{Threshold: 0.5, PartyB: 1, BlocksA: [][]string{{"x"}}})
	require.ErrorContains(t, err, "blocking needs the blocks of both parties")
	_, err = Compare(ctx, a, a, Options{Threshold: 0.5, PartyB: 1, BlocksA: [][]string{{"x"}}, BlocksB: [][]string{{"x"}}})
	require.ErrorContains(t, err, "blocks for 1 and 1 records, but there are 4 and 4")
	_, err = CompareAll(ctx, []*CLKs{a}, nil, Options{Threshold: 0.5})
	require.ErrorContains(t, err, "at least 2 parties")
}

func TestDiceAllZeroIsZero(t *testing.T) {
	z := mustNew(t, make([]byte, 32), 16)
	require.Equal(t, 0.0, Dice(z, 0, z, 1))
	got, err := Compare(context.Background(), z, z, Options{Threshold: 0.01, PartyB: 1})
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestCompareAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 16))
	pop := randomBytes(rng, 100, 128, 0.3)
	var parties []*CLKs
	for range 3 {
		parties = append(parties, mustNew(t, noisyCopies(rng, pop, 128, 90, 0.05), 128))
	}
	var last int64
	got, err := CompareAll(context.Background(), parties, nil, Options{Threshold: 0.8, Progress: func(d int64) {
		require.GreaterOrEqual(t, d, last)
		last = d
	}})
	require.NoError(t, err)
	require.Equal(t, int64(3*90*90), last)
	want := MergeCandidates(0, bruteForce(parties[0], parties[1], 0.8, 0, 1),
		bruteForce(parties[0], parties[2], 0.8, 0, 2), bruteForce(parties[1], parties[2], 0.8, 1, 2))
	require.Equal(t, want, got)
}

func TestCompareNeedsTwoParties(t *testing.T) {
	a := mustNew(t, make([]byte, 64), 16)
	_, err := Compare(context.Background(), a, a, Options{Threshold: 0.5})
	require.ErrorContains(t, err, "PartyA and PartyB are both 0")
}
