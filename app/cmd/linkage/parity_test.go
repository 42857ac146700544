package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
	"github.com/linkage-platform/linkage/app/linkage"
)

// apiRun is a run linked through the API and its raw result documents: "" for the result
// token, and for permutations "party-N" for party N's receipt token.
type apiRun struct {
	pid, resultToken, runID string
	docs                    map[string][]byte
}

// apiLink links files through the API (one party per file) as a project of result type rt, at
// threshold t, and waits for the run to complete.
func apiLink(t *testing.T, base, rt string, threshold float64, files []string) apiRun {
	t.Helper()
	ctx := t.Context()
	api := client.New(base, nil)
	p, err := api.CreateProject(ctx, client.NewProject{ResultType: linkage.ResultType(rt), NumberParties: len(files)})
	require.NoError(t, err)
	var receipts []string
	for i, tok := range p.UpdateTokens {
		f, err := os.Open(files[i])
		require.NoError(t, err)
		r, err := api.UploadJSON(ctx, p.ProjectID, tok, f)
		f.Close()
		require.NoError(t, err)
		receipts = append(receipts, r.ReceiptToken)
	}
	run, err := api.CreateRun(ctx, p.ProjectID, p.ResultToken, client.NewRun{Threshold: threshold})
	require.NoError(t, err)
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	st, err := api.WaitRun(wctx, p.ProjectID, run.RunID, p.ResultToken, 20*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, linkage.RunCompleted, st.State, "%+v", st)
	out := apiRun{pid: p.ProjectID, resultToken: p.ResultToken, runID: run.RunID, docs: map[string][]byte{}}
	tokens := map[string]string{"": p.ResultToken}
	if rt == "permutations" {
		for i, rec := range receipts {
			tokens[fmt.Sprint("party-", i)] = rec
		}
	}
	for part, tok := range tokens {
		if out.docs[part], err = api.Result(ctx, p.ProjectID, run.RunID, tok); err != nil {
			require.NoError(t, err)
		}
	}
	return out
}

// cliLink runs `linkage link` and returns its output.
func cliLink(t *testing.T, args ...string) []byte {
	t.Helper()
	var out, errOut bytes.Buffer
	require.NoError(t, run(context.Background(), append([]string{"link"}, args...), &out, &errOut), errOut.String())
	return out.Bytes()
}

type referenceFile struct {
	Threshold float64      `json:"threshold"`
	Pairs     [][5]float64 `json:"candidate_pairs"`
	Groups    [][][2]int   `json:"groups"`
}

// loadReference reads ../shared/testdata/reference/reference.json; dir holds its clks_N.json.
func loadReference(t *testing.T) (dir string, ref referenceFile) {
	dir = sharedTestdata(t, "reference")
	raw, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &ref))
	return dir, ref
}

func sharedTestdata(t *testing.T, parts ...string) string {
	dir := filepath.Join(append([]string{"..", "..", "..", "..", "shared", "testdata"}, parts...)...)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("shared test data not found at %s (a sibling of the repository): %v", dir, err)
	}
	return dir
}

// TestLinkParity: on the reference data, `linkage link` and the API (all-in-one) print
// byte-identical documents for every result type (permutations seeded with the run id), and
// both reproduce the reference implementation's groups and candidate pairs exactly.
func TestLinkParity(t *testing.T) {
	files, ref := referenceFiles(t)
	th := strconv.FormatFloat(ref.Threshold, 'g', -1, 64)
	base, _, _ := startAllInOne(t, []string{"--data-dir", t.TempDir(), "--log-level", "warn"}, io.Discard)
	groupsParity(t, base, files, ref)

	// similarity_scores, parties 0 and 1: the reference's pairs of those parties, scores bit for bit.
	api := apiLink(t, base, "similarity_scores", ref.Threshold, files[:2])
	cli := cliLink(t, "--threshold", th, "--result", "similarity_scores", "--seed", api.runID, files[0], files[1])
	require.Equal(t, string(api.docs[""]), string(cli))
	var scores struct {
		Scores [][3]json.RawMessage `json:"similarity_scores"`
	}
	require.NoError(t, json.Unmarshal(cli, &scores))
	var want [][5]float64
	for _, p := range ref.Pairs {
		if p[0] == 0 && p[2] == 1 {
			want = append(want, p)
		}
	}
	require.Len(t, scores.Scores, len(want))
	for i, s := range scores.Scores {
		var a, b [2]float64
		var score float64
		require.NoError(t, json.Unmarshal(s[0], &a))
		require.NoError(t, json.Unmarshal(s[1], &b))
		require.NoError(t, json.Unmarshal(s[2], &score))
		require.Equal(t, want[i], [5]float64{a[0], a[1], b[0], b[1], score}, "pair %d", i)
	}

	// permutations: mask and each party's permutation.
	api = apiLink(t, base, "permutations", ref.Threshold, files[:2])
	args := []string{"--threshold", th, "--result", "permutations", "--seed", api.runID, files[0], files[1]}
	require.Equal(t, string(api.docs[""]), string(cliLink(t, args...)))
	for p := range 2 {
		require.Equal(t, string(api.docs[fmt.Sprint("party-", p)]), string(cliLink(t, append([]string{"--party", fmt.Sprint(p)}, args...)...)))
	}
}

// TestLinkParityTutorial: the tutorial's 5-party groups at 0.8 are the same from the CLI and
// the API.
func TestLinkParityTutorial(t *testing.T) {
	dir := sharedTestdata(t, "tutorial")
	var files []string
	for p := 1; p <= 5; p++ {
		files = append(files, filepath.Join(dir, fmt.Sprintf("clks-%d.json", p)))
	}
	base, _, _ := startAllInOne(t, []string{"--data-dir", t.TempDir(), "--log-level", "warn"}, io.Discard)
	api := apiLink(t, base, "groups", 0.8, files)
	cli := cliLink(t, append([]string{"--threshold", "0.8"}, files...)...)
	require.Equal(t, string(api.docs[""]), string(cli))
	require.Greater(t, len(cli), 10000) // thousands of groups, not an empty result
}

// TestLinkParityWindowed: a run of hundreds of small chunks planned two at a time
// (--chunk-window 2) prints the same groups as `linkage link` and the reference.
func TestLinkParityWindowed(t *testing.T) {
	files, ref := referenceFiles(t)
	base, _, _ := startAllInOne(t, []string{"--data-dir", t.TempDir(), "--log-level", "warn",
		"--chunk-comparisons", "300000", "--chunk-window", "2"}, io.Discard)
	groupsParity(t, base, files, ref)
}

// referenceFiles returns the reference's 5 parties' files and its expectations.
func referenceFiles(t *testing.T) ([]string, referenceFile) {
	dir, ref := loadReference(t)
	var files []string
	for p := range 5 {
		files = append(files, filepath.Join(dir, fmt.Sprintf("clks_%d.json", p)))
	}
	return files, ref
}

// groupsParity links the 5 reference parties as groups through the API at base: byte-identical
// to `linkage link --seed <run id>`, and the reference's groups exactly.
func groupsParity(t *testing.T, base string, files []string, ref referenceFile) {
	t.Helper()
	api := apiLink(t, base, "groups", ref.Threshold, files)
	th := strconv.FormatFloat(ref.Threshold, 'g', -1, 64)
	cli := cliLink(t, append([]string{"--threshold", th, "--result", "groups", "--seed", api.runID}, files...)...)
	require.Equal(t, string(api.docs[""]), string(cli))
	var groups struct {
		Groups [][][2]int `json:"groups"`
	}
	require.NoError(t, json.Unmarshal(cli, &groups))
	require.Equal(t, ref.Groups, groups.Groups)
}
