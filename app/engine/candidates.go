package engine

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync/atomic"
)

// Record names one record: a party and its row (absolute, from 0).
type Record struct {
	Party int32
	Row   int32
}

// Candidate is a pair of records of two different parties whose Dice score
// reached the threshold. Candidates from Compare have A.Party < B.Party when
// Options.PartyA < Options.PartyB.
type Candidate struct {
	Score float64
	A, B  Record
}

// compareCandidates is the order of the solvers and of similarity_scores:
// descending score, ties by (party0, party1, row0, row1) ascending.
func compareCandidates(x, y Candidate) int {
	if x.Score != y.Score {
		if x.Score > y.Score {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(x.A.Party, y.A.Party); c != 0 {
		return c
	}
	if c := cmp.Compare(x.B.Party, y.B.Party); c != 0 {
		return c
	}
	if c := cmp.Compare(x.A.Row, y.A.Row); c != 0 {
		return c
	}
	return cmp.Compare(x.B.Row, y.B.Row)
}

// SortCandidates sorts cands in place in the solvers' order: descending
// score, ties by (party0, party1, row0, row1) ascending. This is also the
// order of the similarity_scores result.
func SortCandidates(cands []Candidate) {
	slices.SortFunc(cands, compareCandidates)
}

// MergeCandidates joins candidate lists (e.g. the chunks of a run) into one
// list in SortCandidates order and, when topK > 0, keeps only the topK best
// candidates per record of party A within each party pair — the same limit
// Compare applies, so merging chunks computed with a limit gives the limit of
// the whole. Lists already in that order (as Compare returns them) are merged
// in O(n log k); others are sorted in place first. With a single list and no
// limit the result is that list.
func MergeCandidates(topK int, lists ...[]Candidate) []Candidate {
	n := 0
	for _, l := range lists {
		if !slices.IsSortedFunc(l, compareCandidates) {
			SortCandidates(l)
		}
		n += len(l)
	}
	var all []Candidate
	if len(lists) == 1 && lists[0] != nil {
		all = lists[0]
	} else {
		all = mergeSorted(lists, n)
	}
	if topK <= 0 {
		return all
	}
	type key struct {
		a      Record
		pParty int32
	}
	seen := make(map[key]int)
	out := make([]Candidate, 0, len(all))
	for _, c := range all {
		k := key{c.A, c.B.Party}
		if seen[k] < topK {
			seen[k]++
			out = append(out, c)
		}
	}
	return slices.Clip(out)
}

// mergeSorted merges sorted lists of n candidates in total with a heap of
// list heads.
func mergeSorted(lists [][]Candidate, n int) []Candidate {
	out := make([]Candidate, 0, n)
	var heads [][]Candidate // each a non-empty remainder of a list; heads[0] is least
	for _, l := range lists {
		if len(l) > 0 {
			heads = append(heads, l)
		}
	}
	less := func(i, j int) bool { return compareCandidates(heads[i][0], heads[j][0]) < 0 }
	down := func(i int) {
		for {
			m, l, r := i, 2*i+1, 2*i+2
			if l < len(heads) && less(l, m) {
				m = l
			}
			if r < len(heads) && less(r, m) {
				m = r
			}
			if m == i {
				return
			}
			heads[i], heads[m] = heads[m], heads[i]
			i = m
		}
	}
	for i := len(heads)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(heads) > 0 {
		out = append(out, heads[0][0])
		if heads[0] = heads[0][1:]; len(heads[0]) == 0 {
			heads[0] = heads[len(heads)-1]
			heads = heads[:len(heads)-1]
		}
		down(0)
	}
	return out
}

// The candidate blob: magic, count (uint64), then per candidate party A and B
// (uint16), row A and B (uint32) and the score (float64 bits), little-endian.
const (
	candidateMagic = "LKC1"
	candidateBytes = 2 + 2 + 4 + 4 + 8
)

// EncodeCandidates writes cands in the compact binary form read by
// DecodeCandidates (20 bytes per candidate).
func EncodeCandidates(w io.Writer, cands []Candidate) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	hdr := binary.LittleEndian.AppendUint64([]byte(candidateMagic), uint64(len(cands)))
	if _, err := bw.Write(hdr); err != nil {
		return fmt.Errorf("write candidates: %w", err)
	}
	var buf [candidateBytes]byte
	for i, c := range cands {
		if c.A.Party < 0 || c.A.Party > math.MaxUint16 || c.B.Party < 0 || c.B.Party > math.MaxUint16 ||
			c.A.Row < 0 || c.B.Row < 0 {
			return fmt.Errorf("candidate %d: party or row out of range: %+v", i, c)
		}
		binary.LittleEndian.PutUint16(buf[0:], uint16(c.A.Party))
		binary.LittleEndian.PutUint16(buf[2:], uint16(c.B.Party))
		binary.LittleEndian.PutUint32(buf[4:], uint32(c.A.Row))
		binary.LittleEndian.PutUint32(buf[8:], uint32(c.B.Row))
		binary.LittleEndian.PutUint64(buf[12:], math.Float64bits(c.Score))
		if _, err := bw.Write(buf[:]); err != nil {
			return fmt.Errorf("write candidates: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write candidates: %w", err)
	}
	return nil
}

// DecodeCandidates reads candidates written by EncodeCandidates.
func DecodeCandidates(r io.Reader) ([]Candidate, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var hdr [len(candidateMagic) + 8]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("read candidates header: %w", err)
	}
	if string(hdr[:len(candidateMagic)]) != candidateMagic {
		return nil, errors.New("read candidates: not a candidate blob (bad magic)")
	}
	n := binary.LittleEndian.Uint64(hdr[len(candidateMagic):])
	// Grow as data arrives rather than trusting the header with a huge allocation.
	cands := make([]Candidate, 0, min(n, 1<<20))
	var buf [candidateBytes]byte
	for i := uint64(0); i < n; i++ {
		if _, err := io.ReadFull(br, buf[:]); err != nil {
			return nil, fmt.Errorf("read candidate %d of %d: %w", i, n, err)
		}
		rowA, rowB := binary.LittleEndian.Uint32(buf[4:]), binary.LittleEndian.Uint32(buf[8:])
		if rowA > math.MaxInt32 || rowB > math.MaxInt32 {
			return nil, fmt.Errorf("read candidate %d of %d: row out of range", i, n)
		}
		cands = append(cands, Candidate{
			A:     Record{Party: int32(binary.LittleEndian.Uint16(buf[0:])), Row: int32(rowA)},
			B:     Record{Party: int32(binary.LittleEndian.Uint16(buf[2:])), Row: int32(rowB)},
			Score: math.Float64frombits(binary.LittleEndian.Uint64(buf[12:])),
		})
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("read candidates: trailing data after %d candidates", n)
	}
	return cands, nil
}

// CandidateLimitError is returned by Compare when a comparison produced more
// than Options.MaxCandidates candidates: it stops as soon as the workers see
// the budget overrun, so memory stays within about the budget.
type CandidateLimitError struct {
	Max, Reached int64
}

func (e *CandidateLimitError) Error() string {
	return fmt.Sprintf("more than %d candidate pairs (%d found before stopping)", e.Max, e.Reached)
}

// budget counts the candidates the workers of one Compare hold.
type budget struct {
	max int64 // 0: unlimited
	n   atomic.Int64
}

// take accounts for n more candidates and fails once the total exceeds the maximum.
func (b *budget) take(n int) error {
	if b == nil || b.max <= 0 || n == 0 {
		return nil
	}
	if t := b.n.Add(int64(n)); t > b.max {
		return &CandidateLimitError{Max: b.max, Reached: t}
	}
	return nil
}
