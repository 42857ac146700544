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
// truth) and checks the precision and recall of the pairwise links against
// the values measured with the reference's greedy solver, minus a small
// margin (the shared data's README: about 6,500 links, 98.5 % true, at 0.8).
func TestAccuracyTutorial(t *testing.T) {
	parties := loadTutorial(t)
	truth := map[int]map[[2]Record]bool{2: truePairs(t, 2), 5: truePairs(t, 5)}
	const margin = 0.005
	for _, tc := range []struct {
		parties           int
		threshold         float64
		precision, recall float64 // measured
	}{
		{2, 0.7, 0.4823, 0.9252},
		{2, 0.75, 0.7545, 0.8347},
		{2, 0.8, 0.9855, 0.6070},
		{2, 0.85, 1.0000, 0.3134},
		{2, 0.9, 1.0000, 0.0981},
		{5, 0.7, 0.6320, 0.8437},
		{5, 0.75, 0.8107, 0.6764},
		{5, 0.8, 0.9848, 0.4380},
		{5, 0.85, 0.9993, 0.1976},
		{5, 0.9, 1.0000, 0.0696},
	} {
		cands, err := CompareAll(context.Background(), parties[:tc.parties], nil, Options{Threshold: tc.threshold})
		require.NoError(t, err)
		found := linkedPairs(Groups(cands))
		p, r := precisionRecall(found, truth[tc.parties])
		t.Logf("%d parties, t=%.2f: %d links, precision %.4f, recall %.4f", tc.parties, tc.threshold, len(found), p, r)
		require.GreaterOrEqual(t, p, tc.precision-margin, "precision, %d parties, t=%v", tc.parties, tc.threshold)
		require.GreaterOrEqual(t, r, tc.recall-margin, "recall, %d parties, t=%v", tc.parties, tc.threshold)
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
