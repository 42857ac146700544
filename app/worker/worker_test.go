package worker

import (
	"testing"

	"github.com/stretchr/testify/require"
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
	} {
		chunks := Plan("r", tc.records, tc.target)
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
		for k, n := range covered {
			require.Equal(t, 1, n, "pair %v in several chunks", k)
		}
	}
	require.Len(t, Plan("r", []int64{10_000, 10_000}, 200_000_000), 1, "a 10k × 10k run is one chunk by default")
}

func TestTaskIDs(t *testing.T) {
	require.Equal(t, "run.chunk:r1:3", task(KindChunk, "p", "r1", 3).ID)
	require.Equal(t, "run.start:r1", task(KindStart, "p", "r1", 0).ID)
	require.JSONEq(t, `{"project_id":"p","run_id":"r1","chunk":3}`, string(task(KindChunk, "p", "r1", 3).Payload))
}
