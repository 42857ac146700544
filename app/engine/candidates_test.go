package engine

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCandidatesRoundTrip(t *testing.T) {
	in := []Candidate{
		{Score: 0.8, A: Record{0, 5}, B: Record{1, 7}},
		{Score: 1, A: Record{2, math.MaxInt32}, B: Record{65535, 0}},
		{Score: 2.0 / 3, A: Record{3, 1}, B: Record{4, 2}},
	}
	var buf bytes.Buffer
	require.NoError(t, EncodeCandidates(&buf, in))
	require.Equal(t, 4+8+3*20, buf.Len())
	out, err := DecodeCandidates(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	require.Equal(t, in, out)

	buf.Reset()
	require.NoError(t, EncodeCandidates(&buf, nil))
	out, err = DecodeCandidates(&buf)
	require.NoError(t, err)
	require.Empty(t, out)
}

func TestCandidatesErrors(t *testing.T) {
	var buf bytes.Buffer
	require.ErrorContains(t, EncodeCandidates(&buf, []Candidate{{A: Record{70000, 0}}}), "candidate 0: party or row out of range")
	require.NoError(t, EncodeCandidates(&buf, []Candidate{{Score: 1, A: Record{0, 1}, B: Record{1, 2}}}))
	b := buf.Bytes()
	_, err := DecodeCandidates(bytes.NewReader(b[:len(b)-3]))
	require.ErrorContains(t, err, "read candidate 0 of 1")
	_, err = DecodeCandidates(bytes.NewReader(append(append([]byte(nil), b...), 0)))
	require.ErrorContains(t, err, "trailing data after 1 candidates")
	_, err = DecodeCandidates(bytes.NewReader([]byte("nope, not candidates")))
	require.ErrorContains(t, err, "bad magic")
	_, err = DecodeCandidates(bytes.NewReader(nil))
	require.ErrorContains(t, err, "read candidates header")
}

func TestSortCandidates(t *testing.T) {
	c := []Candidate{
		{Score: 0.8, A: Record{0, 2}, B: Record{1, 0}},
		{Score: 0.9, A: Record{1, 0}, B: Record{2, 0}},
		{Score: 0.8, A: Record{0, 1}, B: Record{2, 0}},
		{Score: 0.8, A: Record{0, 1}, B: Record{1, 5}},
		{Score: 0.8, A: Record{0, 1}, B: Record{1, 3}},
	}
	SortCandidates(c)
	require.Equal(t, []Candidate{
		{Score: 0.9, A: Record{1, 0}, B: Record{2, 0}},
		{Score: 0.8, A: Record{0, 1}, B: Record{1, 3}},
		{Score: 0.8, A: Record{0, 1}, B: Record{1, 5}},
		{Score: 0.8, A: Record{0, 2}, B: Record{1, 0}},
		{Score: 0.8, A: Record{0, 1}, B: Record{2, 0}},
	}, c)
}

func TestMergeCandidates(t *testing.T) {
	x := []Candidate{cand(0.9, 0, 1, 1, 1), cand(0.8, 0, 2, 1, 2), cand(0.7, 0, 1, 1, 3)}
	y := []Candidate{cand(0.95, 0, 1, 1, 4), cand(0.8, 0, 1, 1, 5)}
	z := []Candidate{cand(0.85, 0, 2, 1, 6), cand(0.99, 0, 2, 1, 7)} // unsorted: sorted first
	require.Equal(t, []Candidate{
		cand(0.99, 0, 2, 1, 7), cand(0.95, 0, 1, 1, 4), cand(0.9, 0, 1, 1, 1), cand(0.85, 0, 2, 1, 6),
		cand(0.8, 0, 1, 1, 5), cand(0.8, 0, 2, 1, 2), cand(0.7, 0, 1, 1, 3),
	}, MergeCandidates(0, x, y, z))
	require.Equal(t, []Candidate{
		cand(0.99, 0, 2, 1, 7), cand(0.95, 0, 1, 1, 4), cand(0.9, 0, 1, 1, 1), cand(0.85, 0, 2, 1, 6),
	}, MergeCandidates(2, x, y, z))
	require.Equal(t, []Candidate{}, MergeCandidates(0))
	require.Equal(t, []Candidate{}, MergeCandidates(0, nil, nil))
}

// A threshold too low for the data must stop at the candidate budget, before the
// candidates of the whole comparison are held, with or without blocking.
func TestCompareStopsAtMaxCandidates(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, size = 2000, 64
	a := mustNew(t, randomBytes(rng, n, size, 0.5), size)
	b := mustNew(t, randomBytes(rng, n, size, 0.5), size)
	all := make([][]string, n)
	for i := range all {
		all[i] = []string{"x"}
	}
	for _, blocked := range []bool{false, true} {
		opt := Options{Threshold: 1e-9, Workers: 2, PartyA: 0, PartyB: 1, MaxCandidates: 10_000}
		if blocked {
			opt.BlocksA, opt.BlocksB = all, all
		}
		_, err := Compare(context.Background(), a, b, opt)
		var le *CandidateLimitError
		require.ErrorAs(t, err, &le, "blocked=%v", blocked)
		require.Equal(t, int64(10_000), le.Max)
		// Each worker stops after at most one more group of queries (or of blocked rows).
		require.Less(t, le.Reached, int64(10_000+2*max(queryGroup, blockRows)*n), "blocked=%v", blocked)

		// The budget is inclusive: exactly as many candidates as exist pass.
		opt.MaxCandidates = n * n
		got, err := Compare(context.Background(), a, b, opt)
		require.NoError(t, err)
		require.Len(t, got, n*n)
	}
}
