package histogram

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/linkage-platform/linkage/app/engine"
)

// SampleOptions say which rows Sample compares.
type SampleOptions struct {
	// RowOffset is the absolute row number of a's row 0: a row is sampled when its absolute
	// number is a multiple of the stride, so every chunk of a run samples the same rows.
	RowOffset int
	// BlocksA and BlocksB, when set, restrict the pairs to rows sharing a block, as the run does.
	BlocksA, BlocksB [][]string
	// Workers is the number of goroutines (0: GOMAXPROCS).
	Workers int
}

// Sample compares every Stride-th row of a with every row of b (sharing a block, with blocking)
// and counts the scores in [Floor, Limit) into Sampled. Scores ≥ Limit are not counted here: they
// are the run's candidates, which the caller adds with AddExact. Memory: one copy of b and of the
// sampled rows of a, no candidate lists.
func (h *Histogram) Sample(ctx context.Context, a, b *engine.CLKs, opt SampleOptions) error {
	if a.Size() != b.Size() {
		return fmt.Errorf("histogram: %d-byte and %d-byte CLKs", a.Size(), b.Size())
	}
	if (opt.BlocksA == nil) != (opt.BlocksB == nil) || (opt.BlocksA != nil && (len(opt.BlocksA) != a.Len() || len(opt.BlocksB) != b.Len())) {
		return fmt.Errorf("histogram: blocks of %d and %d rows for %d and %d records", len(opt.BlocksA), len(opt.BlocksB), a.Len(), b.Len())
	}
	var rows []int // sampled rows of a, relative
	for i := (h.Stride - opt.RowOffset%h.Stride) % h.Stride; i < a.Len(); i += h.Stride {
		rows = append(rows, i)
	}
	if len(rows) == 0 || b.Len() == 0 {
		return nil
	}
	words := a.Size() / 8
	qa, popA := pack(a, rows)
	qb, popB := pack(b, nil)
	var members map[string][]int32 // block → rows of b
	if opt.BlocksB != nil {
		members = map[string][]int32{}
		for j, ids := range opt.BlocksB {
			for _, id := range ids {
				if m := members[id]; len(m) == 0 || m[len(m)-1] != int32(j) {
					members[id] = append(m, int32(j))
				}
			}
		}
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	for range min(workers, len(rows)) {
		wg.Go(func() {
			local := make([]int64, h.Bins)
			var compared int64
			var stamp []int32 // row of b → sampled row of a (+1) that gathered it last
			if members != nil {
				stamp = make([]int32, b.Len())
			}
			var near []int32
			count := func(k, j int) {
				q := qa[k*words : (k+1)*words]
				r := qb[j*words : j*words+len(q)]
				c := 0
				for w, x := range q {
					c += bits.OnesCount64(x & r[w])
				}
				compared++
				if sum := popA[k] + popB[j]; sum > 0 { // two empty CLKs score 0
					if s := float64(2*c) / float64(sum); s >= h.Floor && s < h.Limit {
						local[h.Bin(s)]++
					}
				}
			}
			var err error
			for {
				k := int(next.Add(1) - 1)
				if k >= len(rows) {
					break
				}
				if err = ctx.Err(); err != nil {
					break
				}
				if members == nil {
					for j := range b.Len() {
						count(k, j)
					}
					continue
				}
				near = near[:0]
				for _, id := range opt.BlocksA[rows[k]] {
					for _, j := range members[id] {
						if stamp[j] != int32(k)+1 {
							stamp[j] = int32(k) + 1
							near = append(near, j)
						}
					}
				}
				for _, j := range near {
					count(k, int(j))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			for i, n := range local {
				h.Sampled[i] += n
			}
			h.Compared += compared
		})
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("histogram: %w", firstErr)
	}
	return nil
}

// pack copies rows of c (all when rows is nil) into words and popcounts.
func pack(c *engine.CLKs, rows []int) ([]uint64, []int) {
	n := c.Len()
	if rows != nil {
		n = len(rows)
	}
	words := c.Size() / 8
	data := make([]uint64, 0, n*words)
	pops := make([]int, 0, n)
	buf := make([]byte, 0, c.Size())
	for k := range n {
		i := k
		if rows != nil {
			i = rows[k]
		}
		buf = c.AppendRecord(buf[:0], i)
		for w := range words {
			data = append(data, binary.LittleEndian.Uint64(buf[8*w:]))
		}
		pops = append(pops, c.Popcount(i))
	}
	return data, pops
}

// AddCandidates counts every candidate exactly.
func (h *Histogram) AddCandidates(cands []engine.Candidate) {
	for _, c := range cands {
		h.AddExact(c.Score)
	}
}

// StrideFor is the sampling stride that keeps the pairs sampled near budget when a run compares
// pairs pairs in all (1: exact).
func StrideFor(pairs, budget int64) int {
	if budget <= 0 || pairs <= budget {
		return 1
	}
	return int((pairs + budget - 1) / budget)
}
