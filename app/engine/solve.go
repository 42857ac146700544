package engine

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Groups is the reference's greedy solver for 2..N parties (api.md,
// "groups"). It sorts cands in place (SortCandidates) and takes them in that
// order. A pair of ungrouped records forms a group; a record paired with a
// one-record group joins it; a record paired with a larger group becomes a
// one-record group with one edge seen towards it. Two groups merge on the pair
// that brings the edges seen between them to |Gx|·|Gy|, and the merged group
// inherits both groups' edge counts. Groups are cliques of candidates, so no
// party appears twice. It returns the groups of ≥ 2 records, each sorted by
// (party, row), the groups sorted by their first record.
//
// Cost per candidate: two slice look-ups and at most one edge-count update in
// a map; a merge moves the smaller group's members and the edge counts of the
// group merged away, never re-reading the candidates.
func Groups(cands []Candidate) [][]Record {
	SortCandidates(cands)
	s := newGrouper(cands)
	for _, c := range cands {
		s.consider(c.A, c.B)
	}
	return s.result()
}

type grouper struct {
	groupOf    [][]int32      // [party][row] → its group + 1; 0: none yet
	members    [][]Record     // group → records; nil once merged away
	neighbours [][]int32      // group → groups it has seen edges with (may list groups merged away since)
	edges      map[uint64]int // edgeKey(g, h) → edges seen between groups g and h
}

func newGrouper(cands []Candidate) *grouper {
	var rows []int32 // per party: highest row + 1
	for _, c := range cands {
		for _, r := range [2]Record{c.A, c.B} {
			if int(r.Party) >= len(rows) {
				rows = append(rows, make([]int32, int(r.Party)+1-len(rows))...)
			}
			rows[r.Party] = max(rows[r.Party], r.Row+1)
		}
	}
	s := &grouper{groupOf: make([][]int32, len(rows)), edges: make(map[uint64]int)}
	for p, n := range rows {
		s.groupOf[p] = make([]int32, n)
	}
	return s
}

func edgeKey(g, h int32) uint64 {
	if g > h {
		g, h = h, g
	}
	return uint64(g)<<32 | uint64(h)
}

func (s *grouper) newGroup(rs ...Record) int32 {
	g := int32(len(s.members))
	s.members = append(s.members, rs)
	s.neighbours = append(s.neighbours, nil)
	for _, r := range rs {
		s.groupOf[r.Party][r.Row] = g + 1
	}
	return g
}

func (s *grouper) addEdges(g, h int32, n int) {
	k := edgeKey(g, h)
	if _, ok := s.edges[k]; !ok {
		s.neighbours[g] = append(s.neighbours[g], h)
		s.neighbours[h] = append(s.neighbours[h], g)
	}
	s.edges[k] += n
}

func (s *grouper) consider(x, y Record) {
	gx, gy := s.groupOf[x.Party][x.Row]-1, s.groupOf[y.Party][y.Row]-1
	switch {
	case gx < 0 && gy < 0:
		s.newGroup(x, y)
	case gx < 0 || gy < 0:
		g, r := gx, y
		if gy >= 0 {
			g, r = gy, x
		}
		if len(s.members[g]) == 1 {
			s.members[g] = append(s.members[g], r)
			s.groupOf[r.Party][r.Row] = g + 1
			return
		}
		s.addEdges(g, s.newGroup(r), 1)
	case gx != gy:
		if s.edges[edgeKey(gx, gy)]+1 >= len(s.members[gx])*len(s.members[gy]) {
			s.merge(gx, gy)
			return
		}
		s.addEdges(gx, gy, 1)
	}
}

// merge moves the smaller group into the larger one, with its edge counts.
func (s *grouper) merge(g, h int32) {
	if len(s.members[g]) < len(s.members[h]) {
		g, h = h, g
	}
	for _, r := range s.members[h] {
		s.groupOf[r.Party][r.Row] = g + 1
	}
	s.members[g] = append(s.members[g], s.members[h]...)
	s.members[h] = nil
	delete(s.edges, edgeKey(g, h))
	for _, k := range s.neighbours[h] {
		n, ok := s.edges[edgeKey(h, k)]
		if !ok { // k was merged away (its edges moved on) or is g
			continue
		}
		delete(s.edges, edgeKey(h, k))
		s.addEdges(g, k, n)
	}
	s.neighbours[h] = nil
}

// result lists the groups of ≥ 2 records in the order of their first record:
// the order a scan of the records by (party, row) meets them.
func (s *grouper) result() [][]Record {
	var out [][]Record
	for _, rows := range s.groupOf {
		for _, g := range rows {
			if g == 0 || len(s.members[g-1]) < 2 {
				continue
			}
			m := s.members[g-1]
			s.members[g-1] = nil // emitted
			slices.SortFunc(m, compareRecords)
			out = append(out, m)
		}
	}
	return out
}

func compareRecords(x, y Record) int {
	return cmp.Or(cmp.Compare(x.Party, y.Party), cmp.Compare(x.Row, y.Row))
}

// Permutation is the permutations result of a 2-party linkage, laid out as
// the reference does (api.md, "permutations"): with m = min(nA, nB) rows,
// party p's record i goes to row Perms[p][i], a permutation of 0..(its size −
// 1); matched records share a row below m and Mask[row] is 1 exactly there.
type Permutation struct {
	Perms [2][]int
	Rows  int
	Mask  []int
}

// Permutations matches records of parties 0 and 1 (sizes nA and nB) 1:1,
// greedily (Groups; it sorts cands in place). The k matches take k distinct
// random rows below m = min(nA, nB), the same row for both records; every
// unmatched record takes a distinct random row among the rows left (the
// unused rows below m and, for the larger party, m..size−1). The random rows
// come from seed alone (ChaCha8 keyed by its SHA-256): equal inputs and seeds
// give equal results, so a run solved again gives the same permutations.
func Permutations(cands []Candidate, nA, nB int, seed string) (Permutation, error) {
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
	rng := rand.New(rand.NewChaCha8(sha256.Sum256([]byte(seed))))
	m := min(nA, nB)
	rows := rng.Perm(m)
	matched, unused := rows[:len(matches)], rows[len(matches):]
	p := Permutation{Perms: [2][]int{make([]int, nA), make([]int, nB)}, Rows: m, Mask: make([]int, m)}
	for party, perm := range p.Perms {
		for i := range perm {
			perm[i] = -1
		}
		for i, g := range matches {
			perm[g[party].Row] = matched[i]
		}
		free := slices.Clone(unused)
		for row := m; row < len(perm); row++ {
			free = append(free, row)
		}
		rng.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
		for i := range perm {
			if perm[i] < 0 {
				perm[i], free = free[0], free[1:]
			}
		}
	}
	for _, row := range matched {
		p.Mask[row] = 1
	}
	return p, nil
}
