package worker

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
)

func TestPlanCoversEveryPairOnce(t *testing.T) {
	for _, tc := range []struct {
		records []int64
		target  int64
	}{
		{[]int64{10, 10}, 1000},
		{[]int64{1000, 7}, 100},
		{[]int64{7, 1000}, 100},
		{[]int64{333, 250, 1}, 997},
		{[]int64{100_000, 100_000}, 200_000_000},
		{[]int64{1, 1}, 1},
		{[]int64{0, 5, 3}, 4},
	} {
		pl := NewPlan(tc.records, tc.target)
		chunks := pl.Chunks("r", 0, pl.Len())
		covered := map[[4]int64]int{}
		var total int64
		for i, c := range chunks {
			require.Equal(t, i, c.Index)
			require.Less(t, c.PartyA, c.PartyB)
			require.Less(t, c.ALo, c.AHi)
			require.Less(t, c.BLo, c.BHi)
			require.LessOrEqual(t, c.Comparisons(), max(2*tc.target, tc.records[c.PartyB]), "%+v", c)
			total += c.Comparisons()
			for a := c.ALo; a < c.AHi; a++ {
				for b := c.BLo; b < c.BHi && len(chunks) < 5000 && c.Comparisons() < 100_000; b++ {
					covered[[4]int64{int64(c.PartyA), a, int64(c.PartyB), b}]++
				}
			}
		}
		var want int64
		for p := range tc.records {
			for q := p + 1; q < len(tc.records); q++ {
				want += tc.records[p] * tc.records[q]
			}
		}
		require.Equal(t, want, total, "every pair of every party pair, %v", tc)
		require.Equal(t, want, pl.RunPlan().Comparisons)
		for k, n := range covered {
			require.Equal(t, 1, n, "pair %v in several chunks", k)
		}
	}
	require.Equal(t, 1, NewPlan([]int64{10_000, 10_000}, 200_000_000).Len(), "a 10k × 10k run is one chunk by default")
}

// Chunk i of a plan, computed on its own, is the i-th tile of the row-by-row enumeration every
// run used when all chunks were planned at once: lazily planned runs split the work alike.
func TestPlanChunkByIndexMatchesEnumeration(t *testing.T) {
	for _, tc := range []struct {
		records []int64
		target  int64
	}{
		{[]int64{1000, 7}, 100},
		{[]int64{333, 250, 1}, 997},
		{[]int64{0, 5, 3}, 4},
		{[]int64{20_000, 20_000, 5_000}, 10_000_000},
	} {
		var want []linkage.Chunk
		side := max(int64(math.Sqrt(float64(tc.target))), 1)
		for p := range tc.records {
			for q := p + 1; q < len(tc.records); q++ {
				nA, nB := tc.records[p], tc.records[q]
				aStep := min(nA, max(side, tc.target/max(nB, 1)))
				bStep := min(nB, max(1, tc.target/max(aStep, 1)))
				for aLo := int64(0); aLo < nA; aLo += aStep {
					for bLo := int64(0); bLo < nB; bLo += bStep {
						want = append(want, linkage.Chunk{RunID: "r", Index: len(want), PartyA: p, PartyB: q,
							ALo: aLo, AHi: min(aLo+aStep, nA), BLo: bLo, BHi: min(bLo+bStep, nB)})
					}
				}
			}
		}
		pl := NewPlan(tc.records, tc.target)
		require.Equal(t, len(want), pl.Len(), "%v", tc)
		for i := len(want) - 1; i >= 0; i-- { // in any order
			require.Equal(t, want[i], pl.Chunk("r", i), "%v chunk %d", tc, i)
		}
		require.Equal(t, want[1:3], pl.Chunks("r", 1, 2))
		require.Equal(t, want[len(want)-1:], pl.Chunks("r", len(want)-1, 5), "cut at the end")
	}
}

func TestTaskIDs(t *testing.T) {
	require.Equal(t, "run.chunk:r1:3", task(KindChunk, "p", "r1", 3).ID)
	require.Equal(t, "run.start:r1", task(KindStart, "p", "r1", 0).ID)
	require.JSONEq(t, `{"project_id":"p","run_id":"r1","chunk":3}`, string(task(KindChunk, "p", "r1", 3).Payload))
}
