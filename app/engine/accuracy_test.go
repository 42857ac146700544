package engine

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// loadTutorial reads the 5 parties of the shared tutorial data.
func loadTutorial(tb testing.TB) []*CLKs {
	tb.Helper()
	dir := testdata(tb, "tutorial")
	var parties []*CLKs
	for p := 1; p <= 5; p++ {
		parties = append(parties, readCLKFile(tb, filepath.Join(dir, "clks-"+strconv.Itoa(p)+".json")))
	}
	return parties
}

// truePairs returns every pair of records of different parties (among the
// first n parties) that belong to the same entity.
func truePairs(tb testing.TB, n int) map[[2]Record]bool {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(testdata(tb, "tutorial"), "truth.json"))
	require.NoError(tb, err)
	var truth struct {
		EntityIDs [][]string `json:"entity_ids"`
	}
	require.NoError(tb, json.Unmarshal(raw, &truth))
	byEntity := map[string][]Record{}
	for p, ids := range truth.EntityIDs[:n] {
		for r, id := range ids {
			byEntity[id] = append(byEntity[id], Record{int32(p), int32(r)})
		}
	}
	pairs := map[[2]Record]bool{}
	for _, recs := range byEntity {
		for i, x := range recs {
			for _, y := range recs[i+1:] {
				if x.Party != y.Party {
					pairs[[2]Record{x, y}] = true
				}
			}
		}
	}
	return pairs
}

// linkedPairs returns the pairwise links the groups imply.
func linkedPairs(groups [][]Record) map[[2]Record]bool {
	out := map[[2]Record]bool{}
	for _, g := range groups {
		for i, x := range g {
			for _, y := range g[i+1:] {
				out[[2]Record{x, y}] = true
			}
		}
	}
	return out
}

func precisionRecall(found, truth map[[2]Record]bool) (precision, recall float64) {
	hit := 0
	for p := range found {
		if truth[p] {
			hit++
		}
	}
	return float64(hit) / float64(len(found)), float64(hit) / float64(len(truth))
}

// TestAccuracyTutorial links the shared tutorial data (real CLKs with ground
// truth) and checks the links against that truth, not against figures this
// engine once produced: the data's README says a correct greedy Dice linkage
// of the five parties at 0.8 finds about 6,500 pairwise links, about 98.5 %
// of them true. Across thresholds, precision must rise and recall fall.
func TestAccuracyTutorial(t *testing.T) {
	parties := loadTutorial(t)
	truth := truePairs(t, 5)
	lastP, lastR := 0.0, 1.0
	for _, threshold := range []float64{0.7, 0.75, 0.8, 0.85, 0.9} {
		cands, err := CompareAll(context.Background(), parties, nil, Options{Threshold: threshold})
		require.NoError(t, err)
		found := linkedPairs(Groups(cands))
		p, r := precisionRecall(found, truth)
		t.Logf("5 parties, t=%.2f: %d links, precision %.4f, recall %.4f", threshold, len(found), p, r)
		if threshold == 0.8 {
			require.InDelta(t, 6500, len(found), 200, "links at 0.8 (README: about 6,500)")
			require.InDelta(t, 0.985, p, 0.005, "precision at 0.8 (README: about 98.5 %% true)")
		}
		require.GreaterOrEqual(t, p, lastP, "precision falls from t=%v", threshold)
		require.LessOrEqual(t, r, lastR, "recall rises at t=%v", threshold)
		lastP, lastR = p, r
	}
}

// TestBinaryTestdata: the same 1,000 CLKs uploaded by 3 parties link into
// 1,000 groups of 3 at threshold 0.99 (the shared test data's README).
func TestBinaryTestdata(t *testing.T) {
	c := readCLKFile(t, filepath.Join(testdata(t, "binary"), "clks_128B_1k.json"))
	cands, err := CompareAll(context.Background(), []*CLKs{c, c, c}, nil, Options{Threshold: 0.99})
	require.NoError(t, err)
	groups := Groups(cands)
	require.Len(t, groups, 1000)
	for i, g := range groups {
		require.Equal(t, []Record{{0, int32(i)}, {1, int32(i)}, {2, int32(i)}}, g)
	}
}
