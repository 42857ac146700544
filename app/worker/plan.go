package worker

import (
	"math"

	"github.com/linkage-platform/linkage/app/linkage"
)

// ChunkPlan splits every party pair p<q into near-square tiles of about target comparisons,
// so that a chunk reads few rows of each party. Any chunk is computed on its own from its
// index, so a run's chunks are planned a window at a time (never listed whole) and every
// worker plans the same chunk i from the same record counts and target.
type ChunkPlan struct {
	target int64
	pairs  []pairTiles
	count  int
	total  int64
}

// pairTiles is the grid of tiles of one party pair, numbered row by row from first.
type pairTiles struct {
	a, b         int
	nA, nB       int64
	aStep, bStep int64
	bTiles       int
	first        int
}

// NewPlan plans the chunks of a run over parties with the given record counts.
func NewPlan(records []int64, target int64) *ChunkPlan {
	side := max(int64(math.Sqrt(float64(target))), 1)
	pl := &ChunkPlan{target: target}
	for p := range records {
		for q := p + 1; q < len(records); q++ {
			nA, nB := records[p], records[q]
			pl.total += nA * nB
			if nA == 0 || nB == 0 {
				continue
			}
			aStep := min(nA, max(side, target/nB))
			bStep := min(nB, max(1, target/aStep))
			t := pairTiles{a: p, b: q, nA: nA, nB: nB, aStep: aStep, bStep: bStep,
				bTiles: int((nB + bStep - 1) / bStep), first: pl.count}
			pl.pairs = append(pl.pairs, t)
			pl.count += int((nA+aStep-1)/aStep) * t.bTiles
		}
	}
	return pl
}

// Len is the number of chunks.
func (pl *ChunkPlan) Len() int { return pl.count }

// RunPlan is what the run records of the plan.
func (pl *ChunkPlan) RunPlan() linkage.RunPlan {
	return linkage.RunPlan{Chunks: pl.count, Comparisons: pl.total, ChunkComparisons: pl.target}
}

// Chunk returns chunk i (0 ≤ i < Len) of run runID.
func (pl *ChunkPlan) Chunk(runID string, i int) linkage.Chunk {
	k := len(pl.pairs) - 1
	for pl.pairs[k].first > i {
		k--
	}
	t := pl.pairs[k]
	j := i - t.first
	aLo, bLo := int64(j/t.bTiles)*t.aStep, int64(j%t.bTiles)*t.bStep
	return linkage.Chunk{RunID: runID, Index: i, PartyA: t.a, PartyB: t.b,
		ALo: aLo, AHi: min(aLo+t.aStep, t.nA), BLo: bLo, BHi: min(bLo+t.bStep, t.nB)}
}

// Chunks returns chunks from..from+n-1 (cut at Len).
func (pl *ChunkPlan) Chunks(runID string, from, n int) []linkage.Chunk {
	n = max(0, min(n, pl.count-from))
	chunks := make([]linkage.Chunk, n)
	for i := range chunks {
		chunks[i] = pl.Chunk(runID, from+i)
	}
	return chunks
}
