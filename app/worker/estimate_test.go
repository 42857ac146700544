package worker_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/worker"
)

// everyPairCandidate is two identical parties of 230 records that all share bit 0: at threshold
// 1e-9 every one of the 230 × 230 = 52900 pairs is a candidate (Dice ≥ 2/256).
func everyPairCandidate(t *testing.T) [2][]byte {
	a := bytes.Clone(parties(t)[0])
	for i := 0; i < len(a); i += 16 {
		a[i] |= 1
	}
	return [2][]byte{a, a}
}

// failed runs the fixture with cfg and returns the run once it failed.
func failed(t *testing.T, f *fixture, cfg worker.Config) *linkage.Run {
	t.Helper()
	f.complete(t, cfg, linkage.RunError)
	r, err := f.store.GetRun(t.Context(), f.pid, f.rid)
	require.NoError(t, err)
	return r
}

// TestRunOverBudgetFailsAtStart: a run whose candidate pairs exceed what the solver may hold
// fails when it starts, before any chunk, naming the limit and the figure; one that fits runs.
func TestRunOverBudgetFailsAtStart(t *testing.T) {
	const threshold = 1e-9
	data := everyPairCandidate(t)

	// Small parties are compared whole: the count is exact.
	r := failed(t, newFixture(t, threshold, data), worker.Config{MaxScorePairs: 52_899})
	require.Contains(t, r.Message, "52900 candidate pairs at threshold 1e-09 (every pair compared): limit max-score-pairs exceeded (maximum 52899, got 52900)")
	require.Zero(t, r.Chunks, "failed before planning")
	require.True(t, r.StartedAt.IsZero())

	f := newFixture(t, threshold, data)
	f.complete(t, worker.Config{MaxScorePairs: 52_900})
	require.Len(t, scores(t, f), 52_900)

	// A sample of 64 rows of each party (every 3rd row): 4096 pairs, all candidates, scaled
	// by 52900 / 4096 to 52900; three standard deviations below, (4096 − 3·64) · 52900/4096 = 50420.
	sampled := worker.Config{EstimateComparisons: 64 * 64}
	sampled.MaxScorePairs = 50_000
	r = failed(t, newFixture(t, threshold, data), sampled)
	require.Contains(t, r.Message, "52900 candidate pairs at threshold 1e-09 (estimated from 4096 sampled pairs): limit max-score-pairs exceeded (maximum 50000, got 52900)")
	require.Zero(t, r.Chunks)

	// Within the estimate's margin the run starts; the solve's exact count is the backstop.
	sampled.MaxScorePairs = 51_000
	r = failed(t, newFixture(t, threshold, data), sampled)
	require.Equal(t, "52900 candidate pairs: limit max-score-pairs exceeded (maximum 51000); raise the threshold or the limit", r.Message)
	require.Equal(t, 1, r.ChunksDone)
}
