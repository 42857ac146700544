package engine

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func cand(s float64, pa, ra, pb, rb int32) Candidate {
	return Candidate{Score: s, A: Record{pa, ra}, B: Record{pb, rb}}
}

func TestGroupsTwoPartiesIsGreedyOneToOne(t *testing.T) {
	got := Groups([]Candidate{
		cand(0.9, 0, 0, 1, 0),
		cand(0.95, 0, 1, 1, 0), // best: takes (1,0)
		cand(0.85, 0, 0, 1, 1),
		cand(0.85, 0, 2, 1, 1), // tie with the one above: row0 0 < 2 wins
	})
	require.Equal(t, [][]Record{
		{{0, 0}, {1, 1}},
		{{0, 1}, {1, 0}},
	}, got)
}

func TestGroupsMultiParty(t *testing.T) {
	got := Groups([]Candidate{
		cand(0.95, 0, 0, 1, 0),
		cand(0.9, 1, 0, 2, 0),
		cand(0.88, 0, 0, 2, 0), // all cross pairs present: 3-group
		cand(0.9, 0, 5, 1, 5),
		cand(0.85, 2, 5, 3, 5),
		cand(0.8, 1, 5, 2, 5), // {0:5,1:5} + {2:5,3:5}: cross pairs 0:5-2:5, 0:5-3:5, 1:5-3:5 missing → no merge
		cand(0.99, 0, 9, 1, 9),
		cand(0.7, 0, 9, 1, 8), // party 1 would appear twice
	})
	require.Equal(t, [][]Record{
		{{0, 0}, {1, 0}, {2, 0}},
		{{0, 5}, {1, 5}},
		{{0, 9}, {1, 9}},
		{{2, 5}, {3, 5}},
	}, got)
}

func TestGroupsDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var cands []Candidate
	seenPair := map[[2]Record]bool{}
	for range 2000 {
		p := int32(rng.IntN(3))
		q := p + 1 + int32(rng.IntN(int(3-p)))
		c := cand(float64(rng.IntN(20))/20, p, int32(rng.IntN(100)), q, int32(rng.IntN(100)))
		if !seenPair[[2]Record{c.A, c.B}] { // a pair is a candidate at most once, as from Compare
			seenPair[[2]Record{c.A, c.B}] = true
			cands = append(cands, c)
		}
	}
	want := Groups(slices.Clone(cands))
	rng.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	require.Equal(t, want, Groups(cands))
	seen := map[Record]bool{}
	for _, g := range want {
		parties := map[int32]bool{}
		for _, r := range g {
			require.False(t, seen[r], "record %v in two groups", r)
			require.False(t, parties[r.Party], "party twice in %v", g)
			seen[r], parties[r.Party] = true, true
		}
	}
}

// TestPermutations checks the reference's layout on a hand-computed case:
// party 0 has 4 records, party 1 has 6; the greedy matches are 0:1-1:2 (0.95)
// and 0:3-1:0 (0.85) (0:0-1:2 loses to the better pair).
func TestPermutations(t *testing.T) {
	cands := []Candidate{
		cand(0.9, 0, 0, 1, 2),
		cand(0.95, 0, 1, 1, 2),
		cand(0.85, 0, 3, 1, 0),
	}
	for _, seed := range []string{"a", "b", "c", "d", "e", "f"} {
		p, err := Permutations(slices.Clone(cands), 4, 6, seed)
		require.NoError(t, err)
		require.Equal(t, 4, p.Rows, "rows = the smaller party's size")
		require.Len(t, p.Mask, 4)
		for party, size := range []int{4, 6} {
			// A permutation of the party's own rows 0..size-1.
			require.ElementsMatch(t, seq(size), p.Perms[party])
		}
		require.Equal(t, p.Perms[0][1], p.Perms[1][2])
		require.Equal(t, p.Perms[0][3], p.Perms[1][0])
		want := make([]int, 4)
		want[p.Perms[0][1]], want[p.Perms[0][3]] = 1, 1 // matched rows are below m = 4
		require.Equal(t, want, p.Mask)
		// Unmatched records of party 1 hold the 2 unused rows below 4 and rows 4, 5.
		var rest []int
		for _, i := range []int{1, 3, 4, 5} {
			rest = append(rest, p.Perms[1][i])
		}
		require.ElementsMatch(t, append(zeros(want), 4, 5), rest)

		again, err := Permutations(slices.Clone(cands), 4, 6, seed)
		require.NoError(t, err)
		require.Equal(t, p, again, "same seed, same permutations")
	}
	x, err := Permutations(slices.Clone(cands), 4, 6, "x")
	require.NoError(t, err)
	y, err := Permutations(slices.Clone(cands), 4, 6, "y")
	require.NoError(t, err)
	require.NotEqual(t, x, y, "the seed decides the rows")

	_, err = Permutations([]Candidate{cand(0.9, 0, 0, 2, 0)}, 4, 6, "s")
	require.ErrorContains(t, err, "is not a pair of party 0")
	_, err = Permutations([]Candidate{cand(0.9, 0, 4, 1, 0)}, 4, 6, "s")
	require.ErrorContains(t, err, "is not a pair of party 0 (4 rows)")
	_, err = Permutations(nil, 0, 6, "s")
	require.ErrorContains(t, err, "need records in both parties")
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// zeros lists the rows where mask is 0.
func zeros(mask []int) []int {
	var out []int
	for row, m := range mask {
		if m == 0 {
			out = append(out, row)
		}
	}
	return out
}
