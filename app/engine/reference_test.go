package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// referenceData is ../shared/testdata/reference: 5 parties and the
// reference implementation's own candidate pairs (in its solver order) and
// greedy groups on them.
type referenceData struct {
	Threshold float64      `json:"threshold"`
	Sizes     []int        `json:"sizes"`
	Pairs     [][5]float64 `json:"candidate_pairs"` // party0, row0, party1, row1, score
	Groups    [][][2]int32 `json:"groups"`
	Parties   []*CLKs      `json:"-"`
}

// readCLKFile reads a {"clks": [...]} file.
func readCLKFile(tb testing.TB, name string) *CLKs {
	tb.Helper()
	f, err := os.Open(name)
	require.NoError(tb, err)
	defer f.Close()
	c, err := ReadCLKJSON(f)
	require.NoError(tb, err)
	return c
}

func loadReference(tb testing.TB) referenceData {
	tb.Helper()
	dir := testdata(tb, "reference")
	raw, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	require.NoError(tb, err)
	var ref referenceData
	require.NoError(tb, json.Unmarshal(raw, &ref))
	for p := range ref.Sizes {
		c := readCLKFile(tb, filepath.Join(dir, fmt.Sprintf("clks_%d.json", p)))
		require.Equal(tb, ref.Sizes[p], c.Len())
		ref.Parties = append(ref.Parties, c)
	}
	return ref
}

// referenceCandidates are the reference's candidate pairs as Candidates, in
// its order.
func (ref referenceData) candidates() []Candidate {
	out := make([]Candidate, len(ref.Pairs))
	for i, p := range ref.Pairs {
		out[i] = Candidate{Score: p[4], A: Record{int32(p[0]), int32(p[1])}, B: Record{int32(p[2]), int32(p[3])}}
	}
	return out
}

func (ref referenceData) groups() [][]Record {
	out := make([][]Record, len(ref.Groups))
	for i, g := range ref.Groups {
		for _, r := range g {
			out[i] = append(out[i], Record{r[0], r[1]})
		}
	}
	return out
}

// groupsDiffer returns the groups of want that are not in got.
func groupsDiffer(got, want [][]Record) [][]Record {
	have := map[string]bool{}
	for _, g := range got {
		have[fmt.Sprint(g)] = true
	}
	var out [][]Record
	for _, g := range want {
		if !have[fmt.Sprint(g)] {
			out = append(out, g)
		}
	}
	return out
}

// requireGroups fails with the number of differing groups and a few of them.
func requireGroups(t *testing.T, want, got [][]Record) {
	t.Helper()
	if missing := groupsDiffer(got, want); len(missing) > 0 || len(got) != len(want) {
		t.Fatalf("%d of the reference's %d groups are not found (%d groups found), e.g. %v",
			len(missing), len(want), len(got), missing[:min(3, len(missing))])
	}
	require.Equal(t, want, got) // same groups: the order must match too
}

// TestReferenceCandidates: the engine finds exactly the reference's
// candidate pairs, in its order, with bit-identical scores.
func TestReferenceCandidates(t *testing.T) {
	ref := loadReference(t)
	for _, k := range kernels() {
		t.Run(k.name, func(t *testing.T) {
			withKernel(t, k)
			got, err := CompareAll(context.Background(), ref.Parties, nil, Options{Threshold: ref.Threshold})
			require.NoError(t, err)
			SortCandidates(got)
			want := ref.candidates()
			require.Equal(t, len(want), len(got))
			for i := range want {
				// Equal compares the float64 scores exactly (bit for bit for finite values).
				require.Equal(t, want[i], got[i], "candidate %d", i)
			}
		})
	}
}

// TestReferenceGroups: the greedy solver gives exactly the reference's
// groups, whether it starts from the reference's candidate order or from a
// shuffled copy.
func TestReferenceGroups(t *testing.T) {
	ref := loadReference(t)
	want := ref.groups()
	cands := ref.candidates()
	requireGroups(t, want, Groups(slices.Clone(cands)))
	slices.Reverse(cands)
	requireGroups(t, want, Groups(cands))
}

// BenchmarkGroupsTutorial: the groups solver alone on the 5-party tutorial
// candidates at threshold 0.8, in wall and CPU nanoseconds per candidate (the
// machine is shared: CPU time swings much less).
func BenchmarkGroupsTutorial(b *testing.B) { benchGroups(b, Groups) }

func benchGroups(b *testing.B, solve func([]Candidate) [][]Record) {
	cands, err := CompareAll(context.Background(), loadTutorial(b), nil, Options{Threshold: 0.8})
	require.NoError(b, err)
	SortCandidates(cands)
	work := make([]Candidate, len(cands))
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		copy(work, cands)
		solve(work)
	}
	per := float64(b.N) * float64(len(cands))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/candidate")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/per, "cpu-ns/candidate")
	b.ReportMetric(float64(len(cands)), "candidates")
}
