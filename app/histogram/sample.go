package histogram

import (
	"context"
	"fmt"
	"sync"

	"github.com/linkage-platform/linkage/app/engine"
)

// Sample counts into Sampled the scores in [Floor, Limit) of the rows of a whose absolute number
// (a.Offset()+i) is a multiple of Stride, so that every chunk of a run samples the same rows,
// against every row of b (sharing a block, with opt's blocks). Scores ≥ Limit are the run's
// candidates, which the caller adds with AddCandidates. It is the engine's comparison (its
// kernel, blocking and workers: opt's blocks and Workers apply, its threshold, stride, parties
// and callbacks are the histogram's) keeping no candidate list.
func (h *Histogram) Sample(ctx context.Context, a, b *engine.CLKs, opt engine.Options) error {
	opt = engine.Options{Threshold: h.Floor, Stride: h.Stride, PartyA: 0, PartyB: 1,
		BlocksA: opt.BlocksA, BlocksB: opt.BlocksB, Workers: opt.Workers}
	var mu sync.Mutex
	var perWorker [][]int64
	compared, err := engine.Tally(ctx, a, b, opt, func() func(float64) {
		counts := make([]int64, h.Bins)
		mu.Lock()
		perWorker = append(perWorker, counts)
		mu.Unlock()
		return func(s float64) {
			if s < h.Limit {
				counts[h.Bin(s)]++
			}
		}
	})
	if err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	for _, counts := range perWorker {
		for i, n := range counts {
			h.Sampled[i] += n
		}
	}
	h.Compared += compared
	return nil
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
