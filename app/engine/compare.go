package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Options tune Compare.
type Options struct {
	// Threshold: pairs with Dice ≥ Threshold are candidates; 0 < Threshold ≤ 1.
	Threshold float64
	// TopK > 0 keeps only the TopK best candidates per record of a (ties by
	// row of b ascending); 0 keeps all.
	TopK int
	// Workers is the number of goroutines; 0 means GOMAXPROCS.
	Workers int
	// PartyA and PartyB are written into the candidates' records.
	PartyA, PartyB int
	// BlocksA and BlocksB enable blocking when non-nil: BlocksA[i] lists the
	// block ids of row i of a (relative to the view), likewise for b; only
	// records sharing at least one block are compared, and a pair sharing
	// several blocks is reported once. Both or neither must be set.
	BlocksA, BlocksB [][]string
	// Progress, when set, receives the number of comparisons done so far
	// (pairs of a×b covered, pruned ones included): nondecreasing, calls
	// serialised, the last one equal to a.Len()·b.Len() on success.
	Progress func(done int64)
	// Stride > 1 compares only the rows of a whose absolute number is a
	// multiple of Stride: a deterministic sample, the same rows whichever
	// view of a a chunk holds. Progress then ends at (sampled rows)·b.Len().
	Stride int
	// MaxCandidates > 0 bounds the candidates Compare may collect: beyond it
	// Compare stops and returns a *CandidateLimitError, so that a threshold
	// too low for the data cannot exhaust memory (peak about 2 × 24 bytes per
	// candidate: the workers' blocks and their merge).
	MaxCandidates int64

	budget *budget
	tally  *tally
}

// Work is split into groups of queries (rows of a, in popcount order) that
// scan tiles of b small enough to stay in the L2 cache.
const (
	queryGroup = 32
	tileRows   = 1024
)

// Compare returns every pair (row of a, row of b) whose Dice score is at least
// opt.Threshold, sorted with SortCandidates. Rows in the candidates are
// absolute (a.Offset()+i), so chunks of a run can compare views.
func Compare(ctx context.Context, a, b *CLKs, opt Options) ([]Candidate, error) {
	if err := checkOptions(a, b, &opt); err != nil {
		return nil, err
	}
	th := newThreshold(opt.Threshold, a.Size())
	p := newProgress(opt.Progress)
	opt.budget = &budget{max: opt.MaxCandidates}
	var out []Candidate
	var err error
	if opt.BlocksA != nil {
		out, err = compareBlocked(ctx, a, b, th, &opt, p)
	} else {
		out, err = compareAll(ctx, a, b, th, &opt, p)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Tally compares as Compare does but keeps no candidates: each worker gets its
// own count function from newCount and calls it with the score of every pair
// at or above opt.Threshold (calls to one function are serial, to different
// ones concurrent). It returns the number of pairs compared: sampled rows of a
// × rows of b, or with blocking the pairs sharing a block. TopK must be 0.
func Tally(ctx context.Context, a, b *CLKs, opt Options, newCount func() func(score float64)) (int64, error) {
	if opt.TopK != 0 {
		return 0, errors.New("tally: top-k does not apply")
	}
	opt.tally = &tally{newCount: newCount}
	if _, err := Compare(ctx, a, b, opt); err != nil {
		return 0, err
	}
	return opt.tally.compared.Load(), nil
}

// tally is the state of a Tally shared by its workers.
type tally struct {
	newCount func() func(score float64)
	compared atomic.Int64
}

// CompareAll compares every party pair p<q of a multi-party linkage and
// returns all candidates, sorted with SortCandidates. blocks is nil (no
// blocking) or holds each party's per-row block ids. Progress counts the
// comparisons of all pairs together.
func CompareAll(ctx context.Context, parties []*CLKs, blocks [][][]string, opt Options) ([]Candidate, error) {
	if len(parties) < 2 {
		return nil, fmt.Errorf("linkage needs at least 2 parties, got %d", len(parties))
	}
	if blocks != nil && len(blocks) != len(parties) {
		return nil, fmt.Errorf("blocks given for %d parties, but there are %d", len(blocks), len(parties))
	}
	var done int64
	report := opt.Progress
	var lists [][]Candidate
	for p := range parties {
		for q := p + 1; q < len(parties); q++ {
			o := opt
			o.PartyA, o.PartyB = p, q
			if blocks != nil {
				o.BlocksA, o.BlocksB = blocks[p], blocks[q]
			}
			if report != nil {
				base := done
				o.Progress = func(d int64) { report(base + d) }
			}
			c, err := Compare(ctx, parties[p], parties[q], o)
			if err != nil {
				return nil, fmt.Errorf("parties %d and %d: %w", p, q, err)
			}
			lists = append(lists, c)
			done += int64(parties[p].Len()) * int64(parties[q].Len())
		}
	}
	return MergeCandidates(0, lists...), nil
}

func checkOptions(a, b *CLKs, opt *Options) error {
	if a.Len() == 0 || b.Len() == 0 {
		return ErrEmpty
	}
	if a.Size() != b.Size() {
		return fmt.Errorf("CLKs differ in size: %d and %d bytes", a.Size(), b.Size())
	}
	if err := checkThreshold(opt.Threshold); err != nil {
		return err
	}
	if opt.TopK < 0 {
		return fmt.Errorf("top-k %d is negative", opt.TopK)
	}
	if opt.Stride < 0 {
		return fmt.Errorf("stride %d is negative", opt.Stride)
	}
	if opt.Workers < 0 {
		return fmt.Errorf("workers %d is negative", opt.Workers)
	}
	if opt.Workers == 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.PartyA == opt.PartyB {
		return fmt.Errorf("PartyA and PartyB are both %d: candidates need two different parties", opt.PartyA)
	}
	for _, p := range []int{opt.PartyA, opt.PartyB} {
		if p < 0 || p > math.MaxUint16 {
			return fmt.Errorf("party %d out of range [0, %d]", p, math.MaxUint16)
		}
	}
	if int64(a.Offset()+a.Len()) > math.MaxInt32 || int64(b.Offset()+b.Len()) > math.MaxInt32 {
		return errors.New("more than 2^31 records")
	}
	if (opt.BlocksA == nil) != (opt.BlocksB == nil) {
		return errors.New("blocking needs the blocks of both parties")
	}
	if opt.BlocksA != nil && (len(opt.BlocksA) != a.Len() || len(opt.BlocksB) != b.Len()) {
		return fmt.Errorf("blocks for %d and %d records, but there are %d and %d",
			len(opt.BlocksA), len(opt.BlocksB), a.Len(), b.Len())
	}
	return nil
}

// progress serialises reports so they never go backwards.
type progress struct {
	mu   sync.Mutex
	done int64
	fn   func(int64)
}

func newProgress(fn func(int64)) *progress { return &progress{fn: fn} }

func (p *progress) add(n int64) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	p.done += n
	p.fn(p.done)
	p.mu.Unlock()
}

// sortedRows is b reordered by popcount (rows contiguous, or interleaved
// for a kernel that reads 1024-bit rows so), padded with empty rows to a
// multiple of 8.
type sortedRows struct {
	words  int
	offset int // b.Offset()
	data   []uint64
	pops   []uint32
	index  []int32 // sorted position → row of b (relative)
	start  []int   // popcount value v → first sorted position with popcount ≥ v
	n      int     // real rows
}

func sortByPopcount(b *CLKs, k kernel) *sortedRows {
	n := b.Len()
	maxPop := b.Size() * 8
	start := make([]int, maxPop+2)
	for _, p := range b.pops {
		start[p+1]++
	}
	for v := 1; v < len(start); v++ {
		start[v] += start[v-1]
	}
	padded := (n + 7) &^ 7
	s := &sortedRows{
		words:  b.words,
		offset: b.offset,
		data:   make([]uint64, padded*b.words),
		pops:   make([]uint32, padded),
		index:  make([]int32, n),
		start:  slices.Clone(start),
		n:      n,
	}
	next := start // counting sort: next free position per popcount
	for i, p := range b.pops {
		j := next[p]
		next[p]++
		s.index[j] = int32(i)
		s.pops[j] = p
		if k.interleaved && b.words == 16 {
			putInterleaved(s.data, j, b.row(i))
		} else {
			copy(s.data[j*b.words:(j+1)*b.words], b.row(i))
		}
	}
	return s
}

// least is the least nonzero popcount at sorted positions [lo, hi), 0 when
// they are all empty: empty rows sort first, padding comes last.
func (s *sortedRows) least(lo, hi int) uint32 {
	i := max(lo, s.start[1])
	if i >= min(hi, s.n) {
		return 0
	}
	return s.pops[i]
}

// span is the sorted positions [lo, hi) of rows that can reach the
// threshold against a query of popcount pa, widened to multiples of 8.
func (s *sortedRows) span(th *threshold, pa int) (lo, hi int) {
	maxPop := len(s.start) - 2
	plo, phi := th.popRange(pa, maxPop)
	if plo > phi {
		return 0, 0
	}
	lo, hi = s.start[plo], s.start[phi+1]
	if lo >= hi {
		return 0, 0
	}
	return lo &^ 7, (hi + 7) &^ 7
}

// scratch is one worker's reusable memory.
type scratch struct {
	count  func(score float64) // set in a Tally: hits are counted, not kept
	counts []uint32
	mask   []uint8
	// counts2 and mask2 take the second query of a kernel's scan2.
	counts2 []uint32
	mask2   []uint8
	hits    [][]Candidate // per query of the current group
	out     []Candidate   // the block being filled
	full    [][]Candidate // filled blocks
	inFull  int           // candidates in full
}

// held is the number of candidates collected so far.
func (s *scratch) held() int { return s.inFull + len(s.out) }

// newScratch is a worker's scratch with room for hits of n queries.
func newScratch(opt *Options, n int) *scratch {
	s := &scratch{hits: make([][]Candidate, n)}
	if opt.tally != nil {
		s.count = opt.tally.newCount()
	}
	return s
}

// sampledRows lists the rows of a (relative) that opt.Stride selects.
func sampledRows(a *CLKs, stride int) []int32 {
	stride = max(stride, 1)
	first := (stride - a.offset%stride) % stride
	rows := make([]int32, 0, max(0, a.Len()-first+stride-1)/stride)
	for i := first; i < a.Len(); i += stride {
		rows = append(rows, int32(i))
	}
	return rows
}

// outBlock is the capacity of the blocks candidates are collected in: blocks
// never move once allocated (no copying as the output grows) and are sorted
// separately, then merged.
const outBlock = 1 << 16

// reserve makes room for n more candidates in s.out.
func (s *scratch) reserve(n int) {
	if len(s.out)+n <= cap(s.out) {
		return
	}
	if len(s.out) > 0 {
		s.full = append(s.full, s.out)
		s.inFull += len(s.out)
	}
	s.out = make([]Candidate, 0, max(outBlock, n))
}

func compareAll(ctx context.Context, a, b *CLKs, th *threshold, opt *Options, p *progress) ([]Candidate, error) {
	k := *active.Load()
	sb := sortByPopcount(b, k)
	order := sampledRows(a, opt.Stride)
	slices.SortStableFunc(order, func(x, y int32) int { return int(a.pops[x]) - int(a.pops[y]) })
	groups := (len(order) + queryGroup - 1) / queryGroup

	var next atomic.Int64
	work := func(s *scratch) error {
		for {
			g := int(next.Add(1) - 1)
			if g >= groups {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			queries := order[g*queryGroup : min((g+1)*queryGroup, len(order))]
			before := s.held()
			scanGroup(k, a, sb, queries, th, opt, s)
			if err := opt.budget.take(s.held() - before); err != nil {
				return err
			}
			compared := int64(len(queries)) * int64(b.Len())
			if opt.tally != nil {
				opt.tally.compared.Add(compared)
			}
			p.add(compared)
		}
	}
	return runWorkers(opt.Workers, groups, func() *scratch {
		s := newScratch(opt, queryGroup)
		s.counts, s.mask = make([]uint32, tileRows), make([]uint8, tileRows/8)
		if k.scan2 != nil {
			s.counts2, s.mask2 = make([]uint32, tileRows), make([]uint8, tileRows/8)
		}
		return s
	}, work)
}

// scanGroup compares a group of queries against their popcount spans of b,
// tile by tile, and appends the hits to s.out.
func scanGroup(k kernel, a *CLKs, sb *sortedRows, queries []int32, th *threshold, opt *Options, s *scratch) {
	var los, his [queryGroup]int
	glo, ghi := math.MaxInt, 0
	for qi, q := range queries {
		los[qi], his[qi] = sb.span(th, int(a.pops[q]))
		s.hits[qi] = s.hits[qi][:0]
		if los[qi] < his[qi] {
			glo, ghi = min(glo, los[qi]), max(ghi, his[qi])
		}
	}
	w := sb.words
	for t := glo; t < ghi; t += tileRows {
		tEnd := min(t+tileRows, ghi)
		for qi := 0; qi < len(queries); qi++ {
			lo, hi := max(los[qi], t), min(his[qi], tEnd)
			if lo >= hi {
				continue
			}
			q := queries[qi]
			if k.scan2 != nil && qi+1 < len(queries) {
				if lo2, hi2 := max(los[qi+1], t), min(his[qi+1], tEnd); lo2 < hi2 {
					// The next query (popcount order: about the same span)
					// shares the pass over the union of the two spans; a row
					// outside a query's span cannot reach the threshold.
					lo, hi = min(lo, lo2), max(hi, hi2)
					n := hi - lo
					q2 := queries[qi+1]
					if k.scan2([2][]uint64{a.row(int(q)), a.row(int(q2))}, sb.data[lo*w:hi*w], sb.pops[lo:hi], sb.least(lo, hi),
						[2]uint32{a.pops[q], a.pops[q2]}, th,
						[2][]uint32{s.counts[:n], s.counts2[:n]}, [2][]uint8{s.mask[:n/8], s.mask2[:n/8]}) {
						s.collect(qi, a, q, s.mask[:n/8], s.counts, sb, lo, opt)
						s.collect(qi+1, a, q2, s.mask2[:n/8], s.counts2, sb, lo, opt)
					}
					qi++
					continue
				}
			}
			n := hi - lo
			k.scan(a.row(int(q)), sb.data[lo*w:hi*w], sb.pops[lo:hi], a.pops[q], th, s.counts[:n], s.mask[:n/8])
			s.collect(qi, a, q, s.mask[:n/8], s.counts, sb, lo, opt)
		}
	}
	if opt.TopK > 0 {
		for qi := range queries {
			s.appendTopK(s.hits[qi], opt.TopK)
		}
	}
}

// collect takes the hits of query qi of the group (row q of a) from a
// kernel's mask and counts over sorted positions lo.. of b.
func (s *scratch) collect(qi int, a *CLKs, q int32, mask []uint8, counts []uint32, sb *sortedRows, lo int, opt *Options) {
	qpop, rowA := a.pops[q], int32(a.offset)+q
	switch {
	case s.count != nil: // at most one tile of hits at a time
		s.hits[qi] = collectHits(s.hits[qi][:0], mask, counts, qpop, sb, lo, opt, rowA)
		s.appendTopK(s.hits[qi], 0)
	case opt.TopK == 0:
		s.reserve(8 * len(mask))
		s.out = collectHits(s.out, mask, counts, qpop, sb, lo, opt, rowA)
	default:
		s.hits[qi] = collectHits(s.hits[qi], mask, counts, qpop, sb, lo, opt, rowA)
	}
}

// collectHits appends a candidate for each bit set in mask; bit j stands for
// sorted position lo+j of b. Masks are read 64 rows at a time: hits are rare.
func collectHits(hits []Candidate, mask []uint8, counts []uint32, qpop uint32, sb *sortedRows, lo int, opt *Options, rowA int32) []Candidate {
	for base := 0; base < len(mask); base += 8 {
		var m uint64
		if base+8 <= len(mask) {
			m = binary.LittleEndian.Uint64(mask[base:])
		} else {
			for i, b := range mask[base:] {
				m |= uint64(b) << (8 * i)
			}
		}
		for ; m != 0; m &= m - 1 {
			j := base*8 + bits.TrailingZeros64(m)
			pos := lo + j
			if pos >= sb.n {
				continue // padding
			}
			hits = append(hits, Candidate{
				Score: score(counts[j], qpop+sb.pops[pos]),
				A:     Record{Party: int32(opt.PartyA), Row: rowA},
				B:     Record{Party: int32(opt.PartyB), Row: int32(sb.offset) + sb.index[pos]},
			})
		}
	}
	return hits
}

// appendTopK appends hits (all for one record of a) to the output, only the
// k best when k > 0; in a Tally it counts them instead.
func (s *scratch) appendTopK(hits []Candidate, k int) {
	if s.count != nil {
		for _, h := range hits {
			s.count(h.Score)
		}
		return
	}
	if k > 0 && len(hits) > k {
		SortCandidates(hits)
		hits = hits[:k]
	}
	s.reserve(len(hits))
	s.out = append(s.out, hits...)
}

// runWorkers runs work on up to n goroutines (never more than items), each
// with its own scratch, sorts each one's output blocks (in parallel) and
// merges them all. The first error wins.
func runWorkers(n, items int, newScratch func() *scratch, work func(*scratch) error) ([]Candidate, error) {
	n = max(1, min(n, items))
	scratches := make([]*scratch, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		scratches[i] = newScratch()
		wg.Go(func() {
			s := scratches[i]
			if errs[i] = work(s); errs[i] == nil {
				s.full = append(s.full, s.out)
				for _, b := range s.full {
					SortCandidates(b)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var lists [][]Candidate
	for _, s := range scratches {
		lists = append(lists, s.full...)
	}
	return MergeCandidates(0, lists...), nil
}
