package worker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/linkage"
)

// A run's candidate pairs are estimated when it starts, so that a run whose result the solver
// cannot hold fails at once, naming the limit, instead of after all its comparisons. The
// estimate counts the pairs at or above the threshold among a deterministic sample: every
// stride-th row of each party, each party from another offset (parties holding the same
// records in the same order would otherwise pair exactly their matching rows), scaled up
// to all pairs. Counting keeps no candidates, so a threshold of 1e-9 costs no memory here.

// estimate is a run's candidate pairs estimated from a sample.
type estimate struct {
	pairs    int64 // the estimate
	low      int64 // about three standard deviations below it; the count itself when every pair was compared
	compared int64 // pairs sampled
	exact    bool  // every pair was compared
}

// solverLimit is the most candidate pairs a run of the result type may have: what its solve holds.
func (w *Worker) solverLimit(rt linkage.ResultType) *linkage.LimitError {
	if rt == linkage.ResultSimilarityScores {
		return &linkage.LimitError{Limit: "max-score-pairs", Max: w.cfg.MaxScorePairs}
	}
	return &linkage.LimitError{Limit: "max-solver-pairs", Max: w.cfg.MaxSolverPairs}
}

// overBudget returns why the run cannot be solved within its limit ("" if it can, as far as
// the estimate can tell: the solve checks the real count again).
func (w *Worker) overBudget(ctx context.Context, run *linkage.Run, project *linkage.Project, parties []linkage.Party) (string, error) {
	est, err := w.estimateCandidates(ctx, run, project, parties)
	if err != nil {
		return "", fmt.Errorf("estimate candidate pairs: %w", err)
	}
	limit := w.solverLimit(project.ResultType)
	if est.low <= limit.Max {
		return "", nil
	}
	limit.Got = est.pairs
	how := fmt.Sprintf("estimated from %d sampled pairs", est.compared)
	if est.exact {
		how = "every pair compared"
	}
	return fmt.Sprintf("%d candidate pairs at threshold %g (%s): %v; raise the threshold or the limit",
		est.pairs, run.Threshold, how, limit), nil
}

func (w *Worker) estimateCandidates(ctx context.Context, run *linkage.Run, project *linkage.Project, parties []linkage.Party) (estimate, error) {
	k := int64(len(parties))
	rows := max(64, int64(math.Sqrt(float64(w.cfg.EstimateComparisons)/float64(max(1, k*(k-1)/2)))))
	samples := make([]*engine.CLKs, k)
	blocks := make([][][]string, k)
	for i, pa := range parties {
		n := pa.Records
		if n == 0 {
			continue
		}
		count := min(n, rows)
		stride := n / count
		offset := int64(i) * stride / k
		var err error
		if samples[i], err = w.readSample(ctx, pa, stride, offset, count); err != nil {
			return estimate{}, err
		}
		if project.UsesBlocking {
			if blocks[i], err = w.readSampleBlocks(ctx, pa, stride, offset, count); err != nil {
				return estimate{}, err
			}
		}
	}
	est := estimate{exact: true}
	var low float64
	for p := range parties {
		for q := p + 1; q < len(parties); q++ {
			a, b := samples[p], samples[q]
			if a == nil || b == nil {
				continue
			}
			c, err := countCandidates(ctx, a, b, engine.Options{Threshold: run.Threshold, Workers: w.cfg.CompareWorkers,
				PartyA: p, PartyB: q, BlocksA: blocks[p], BlocksB: blocks[q]})
			if err != nil {
				return estimate{}, fmt.Errorf("parties %d and %d: %w", p, q, err)
			}
			sampled := int64(a.Len()) * int64(b.Len())
			all := parties[p].Records * parties[q].Records
			est.compared += sampled
			if sampled == all {
				est.pairs += c
				low += float64(c)
				continue
			}
			est.exact = false
			scale := float64(all) / float64(sampled)
			est.pairs += int64(math.Round(float64(c) * scale))
			low += max(0, float64(c)-3*math.Sqrt(float64(c))) * scale
		}
	}
	est.low = int64(low)
	return est, nil
}

// countCandidates counts the pairs of a and b at or above the threshold, keeping none.
func countCandidates(ctx context.Context, a, b *engine.CLKs, opt engine.Options) (int64, error) {
	var mu sync.Mutex
	var counts []*int64
	_, err := engine.Tally(ctx, a, b, opt, func() func(float64) {
		n := new(int64)
		mu.Lock()
		counts = append(counts, n)
		mu.Unlock()
		return func(float64) { *n++ }
	})
	var total int64
	for _, n := range counts {
		total += *n
	}
	return total, err
}

// readSample reads count rows of a party's upload, every stride-th from offset, in one pass.
func (w *Worker) readSample(ctx context.Context, pa linkage.Party, stride, offset, count int64) (*engine.CLKs, error) {
	rc, err := w.blobs.Get(ctx, linkage.UploadKey(pa.ProjectID, pa.Index, pa.Attempt))
	if err != nil {
		return nil, fmt.Errorf("read upload of party %d: %w", pa.Index, err)
	}
	defer rc.Close()
	in := bufio.NewReaderSize(rc, 1<<20)
	size := int64(pa.HashSize)
	padded := (size + 7) / 8 * 8 // zero bits change no score (see padReader)
	buf := make([]byte, count*padded)
	skip := offset * size
	for i := range count {
		if _, err := in.Discard(int(skip)); err != nil {
			return nil, fmt.Errorf("read upload of party %d: %w", pa.Index, err)
		}
		if _, err := io.ReadFull(in, buf[i*padded:i*padded+size]); err != nil {
			return nil, fmt.Errorf("read upload of party %d: %w", pa.Index, err)
		}
		skip = (stride - 1) * size
	}
	return engine.New(buf, int(padded))
}

// readSampleBlocks reads the blocks of the rows readSample reads.
func (w *Worker) readSampleBlocks(ctx context.Context, pa linkage.Party, stride, offset, count int64) ([][]string, error) {
	if !pa.HasBlocks {
		return w.readBlocks(ctx, pa, 0, count)
	}
	rc, err := w.blobs.Get(ctx, linkage.BlocksKey(pa.ProjectID, pa.Index, pa.Attempt))
	if err != nil {
		return nil, fmt.Errorf("read blocks of party %d: %w", pa.Index, err)
	}
	defer rc.Close()
	blocks, err := linkage.ReadBlocksOf(rc, int(count), func(row int64) int64 {
		if row < offset || (row-offset)%stride != 0 {
			return -1
		}
		return (row - offset) / stride
	})
	if err != nil {
		return nil, fmt.Errorf("read blocks of party %d: %w", pa.Index, err)
	}
	return blocks, nil
}
