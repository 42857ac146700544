package engine

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Groups is the greedy solver for 2..N parties. It sorts cands in place
// (SortCandidates) and takes them in that order; the two records' groups
// merge when no party would appear twice and every cross pair between the
// groups is itself a candidate. It returns the groups of ≥ 2 records, each
// sorted by (party, row), the groups sorted by their first record.
func Groups(cands []Candidate) [][]Record {
	SortCandidates(cands)
	s := newGrouper(cands)
	for _, c := range cands {
		s.consider(c)
	}
	return s.result()
}

type grouper struct {
	cands   []Candidate
	groupOf map[Record]int32 // record → index in groups
	groups  [][]Record       // nil once merged away
	pairs   []pairKey        // sorted candidate pairs, built when first needed
}

type pairKey struct{ a, b Record }

func orderedPair(x, y Record) pairKey {
	if x.Party > y.Party || (x.Party == y.Party && x.Row > y.Row) {
		x, y = y, x
	}
	return pairKey{x, y}
}

func comparePairKeys(x, y pairKey) int {
	return cmp.Or(cmp.Compare(x.a.Party, y.a.Party), cmp.Compare(x.a.Row, y.a.Row),
		cmp.Compare(x.b.Party, y.b.Party), cmp.Compare(x.b.Row, y.b.Row))
}

func newGrouper(cands []Candidate) *grouper {
	return &grouper{cands: cands, groupOf: make(map[Record]int32)}
}

func (s *grouper) group(r Record) []Record {
	if g, ok := s.groupOf[r]; ok {
		return s.groups[g]
	}
	return []Record{r}
}

func (s *grouper) consider(c Candidate) {
	gx, gy := s.group(c.A), s.group(c.B)
	if gi, ok := s.groupOf[c.A]; ok {
		if gj, ok := s.groupOf[c.B]; ok && gi == gj {
			return
		}
	}
	for _, u := range gx {
		for _, v := range gy {
			if u.Party == v.Party {
				return
			}
		}
	}
	if len(gx) > 1 || len(gy) > 1 {
		for _, u := range gx {
			for _, v := range gy {
				if !s.isCandidate(u, v) {
					return
				}
			}
		}
	}
	merged := append(slices.Clone(gx), gy...)
	id := int32(len(s.groups))
	for _, g := range [][]Record{gx, gy} {
		if old, ok := s.groupOf[g[0]]; ok {
			s.groups[old] = nil
		}
	}
	s.groups = append(s.groups, merged)
	for _, r := range merged {
		s.groupOf[r] = id
	}
}

func (s *grouper) isCandidate(u, v Record) bool {
	if s.pairs == nil {
		s.pairs = make([]pairKey, len(s.cands))
		for i, c := range s.cands {
			s.pairs[i] = orderedPair(c.A, c.B)
		}
		slices.SortFunc(s.pairs, comparePairKeys)
	}
	_, found := slices.BinarySearchFunc(s.pairs, orderedPair(u, v), comparePairKeys)
	return found
}

func (s *grouper) result() [][]Record {
	var out [][]Record
	for _, g := range s.groups {
		if len(g) < 2 {
			continue
		}
		slices.SortFunc(g, compareRecords)
		out = append(out, g)
	}
	slices.SortFunc(out, func(x, y []Record) int { return compareRecords(x[0], y[0]) })
	return out
}

func compareRecords(x, y Record) int {
	return cmp.Or(cmp.Compare(x.Party, y.Party), cmp.Compare(x.Row, y.Row))
}

// Permutation is the permutations result of a 2-party linkage: party p's row
// i goes to row Perms[p][i] of a table of Rows rows; matched records share a
// row, and Mask[row] is 1 exactly there.
type Permutation struct {
	Perms [2][]int
	Rows  int
	Mask  []int
}

// Permutations matches records of parties 0 and 1 (sizes nA and nB) 1:1,
// greedily by descending score (SortCandidates order; it sorts cands in
// place), and places each matched pair at the same random row. Rows =
// max(nA, nB); unmatched records fill the remaining rows in random order.
// Equal inputs and equal rng states give equal results.
func Permutations(cands []Candidate, nA, nB int, rng *rand.Rand) (Permutation, error) {
	if nA <= 0 || nB <= 0 {
		return Permutation{}, fmt.Errorf("permutations need records in both parties, got %d and %d", nA, nB)
	}
	for i, c := range cands {
		if c.A.Party != 0 || c.B.Party != 1 || int(c.A.Row) >= nA || int(c.B.Row) >= nB || c.A.Row < 0 || c.B.Row < 0 {
			return Permutation{}, fmt.Errorf("candidate %d (%+v) is not a pair of party 0 (%d rows) and party 1 (%d rows)", i, c, nA, nB)
		}
	}
	// With two parties the greedy groups are exactly the greedy 1:1 matching.
	matches := Groups(cands) // sorted by row of party 0
	rows := max(nA, nB)
	free := rng.Perm(rows)
	p := Permutation{Perms: [2][]int{make([]int, nA), make([]int, nB)}, Rows: rows, Mask: make([]int, rows)}
	for party, perm := range p.Perms {
		for i := range perm {
			perm[i] = -1
		}
		for i, g := range matches {
			perm[g[party].Row] = free[i]
		}
		next := len(matches)
		for i := range perm {
			if perm[i] < 0 {
				perm[i] = free[next]
				next++
			}
		}
	}
	for i := range matches {
		p.Mask[free[i]] = 1
	}
	return p, nil
}
