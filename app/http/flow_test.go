package http_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/results"
)

func groupsJSON(t *testing.T, cands []engine.Candidate) []byte {
	var b bytes.Buffer
	require.NoError(t, results.WriteGroups(&b, engine.Groups(cands)))
	return b.Bytes()
}

func TestGroupsTwoParties(t *testing.T) {
	e := newEnv(t, true)
	p := e.createProject("groups", 2, false)
	bodies := [][]byte{tutorial(t, 0), tutorial(t, 1)}
	e.upload(p, 0, bodies[0])
	// Runs created before every party uploaded wait.
	run := e.createRun(p, 0.8)
	r := e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/status", p.ResultToken, nil)
	require.Equal(t, "created", r.json(t)["state"])
	r = e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/result", p.ResultToken, nil)
	require.Equal(t, http.StatusNotFound, r.status, "result before completion")
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))

	receipt := e.upload(p, 1, bodies[1])
	st := e.wait(p, run)
	require.Equal(t, linkage.RunCompleted, st.State, "%+v", st)
	got := e.result(p, run, p.ResultToken)
	require.Equal(t, string(groupsJSON(t, expected(t, bodies, nil, 0.8))), string(got), "byte-identical to the engine")

	// Accuracy against the ground truth.
	var truth struct {
		EntityIDs [][]string `json:"entity_ids"`
	}
	require.NoError(t, json.Unmarshal(readFile(t, "tutorial/truth.json"), &truth))
	var res struct {
		Groups [][][2]int `json:"groups"`
	}
	require.NoError(t, json.Unmarshal(got, &res))
	right := 0
	for _, g := range res.Groups {
		require.Len(t, g, 2)
		if truth.EntityIDs[g[0][0]][g[0][1]] == truth.EntityIDs[g[1][0]][g[1][1]] {
			right++
		}
	}
	require.Greater(t, len(res.Groups), 800)
	require.Greater(t, float64(right)/float64(len(res.Groups)), 0.95)

	// In a groups project the receipt token reads neither the status nor the groups (the
	// reference's scopes).
	r = e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/status", receipt, nil)
	require.Equal(t, http.StatusForbidden, r.status)
	r = e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/result", receipt, nil)
	require.Equal(t, http.StatusForbidden, r.status)

	// Project and run descriptions.
	r = e.do("GET", "/projects/"+p.ProjectID, p.ResultToken, nil)
	require.Equal(t, http.StatusOK, r.status)
	pj := r.json(t)
	require.EqualValues(t, 2, pj["parties_contributed"])
	require.Equal(t, "groups", pj["result_type"])
	require.Equal(t, map[string]any{"version": 1.0}, pj["schema"])
	r = e.do("GET", "/projects/"+p.ProjectID+"/runs", p.ResultToken, nil)
	require.Equal(t, http.StatusOK, r.status)
	var runs []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &runs))
	require.Len(t, runs, 1)
	require.Equal(t, run, runs[0]["run_id"])
	require.Equal(t, "completed", runs[0]["state"])
	r = e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run, p.ResultToken, nil)
	require.Equal(t, 0.8, r.json(t)["threshold"])
}

func TestSimilarityScoresAndChunks(t *testing.T) {
	// Small chunks: the result of many merged chunks equals the engine's over the whole.
	e := newEnv(t, true, withChunk(1_000_000))
	p := e.createProject("similarity_scores", 2, false)
	bodies := [][]byte{tutorial(t, 2), tutorial(t, 3)}
	e.upload(p, 0, bodies[0])
	// The binary form gives the same result.
	bin := binaryOf(t, bodies[1])
	r := e.do("POST", "/projects/"+p.ProjectID+"/binaryclks", p.UpdateTokens[1], bin,
		"Hash-Count", strconv.Itoa(len(bin)/128), "Hash-Size", "128", "Content-Type", "application/octet-stream")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	run := e.createRun(p, 0.75)
	st := e.wait(p, run)
	require.Equal(t, linkage.RunCompleted, st.State, "%+v", st)
	done, err := e.store.GetRun(t.Context(), p.ProjectID, run)
	require.NoError(t, err)
	require.Greater(t, done.ChunksDone, 8)

	var want bytes.Buffer
	require.NoError(t, results.WriteSimilarityScores(&want, slices.Values(expected(t, bodies, nil, 0.75))))
	require.Equal(t, want.String(), string(e.result(p, run, p.ResultToken)))

	// A second run of the same project at another threshold.
	run2 := e.createRun(p, 0.9)
	require.Equal(t, linkage.RunCompleted, e.wait(p, run2).State)
	want.Reset()
	require.NoError(t, results.WriteSimilarityScores(&want, slices.Values(expected(t, bodies, nil, 0.9))))
	require.Equal(t, want.String(), string(e.result(p, run2, p.ResultToken)))
}

func TestPermutations(t *testing.T) {
	e := newEnv(t, true)
	p := e.createProject("permutations", 2, false)
	body := readFile(t, "binary/clks_128B_1k.json")
	receipt0 := e.upload(p, 0, body)
	receipt1 := e.upload(p, 1, body)
	run := e.createRun(p, 0.99)
	require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)

	var mask struct {
		Mask []int `json:"mask"`
	}
	require.NoError(t, json.Unmarshal(e.result(p, run, p.ResultToken), &mask))
	require.Len(t, mask.Mask, 1000)
	type perm struct {
		Permutation []int `json:"permutation"`
		Rows        int   `json:"rows"`
	}
	var p0, p1 perm
	require.NoError(t, json.Unmarshal(e.result(p, run, receipt0), &p0))
	require.NoError(t, json.Unmarshal(e.result(p, run, receipt1), &p1))
	require.Equal(t, 1000, p0.Rows)
	require.Len(t, p0.Permutation, 1000)
	// Every record matches itself: both land on the same row, and the mask marks it.
	require.Equal(t, p0.Permutation, p1.Permutation)
	for i, row := range p0.Permutation {
		require.Equal(t, 1, mask.Mask[row], "record %d", i)
	}
	sorted := slices.Sorted(slices.Values(p0.Permutation))
	for i, v := range sorted {
		require.Equal(t, i, v, "a permutation")
	}
}

func TestGroupsFiveParties(t *testing.T) {
	e := newEnv(t, true, withChunk(3_000_000))
	p := e.createProject("groups", 5, false)
	bodies := make([][]byte, 5)
	for i := range bodies {
		bodies[i] = tutorial(t, i)
	}
	run := e.createRun(p, 0.8) // before the uploads
	for i := 4; i >= 0; i-- {
		e.upload(p, i, bodies[i])
	}
	require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)
	got := e.result(p, run, p.ResultToken)
	require.Equal(t, string(groupsJSON(t, expected(t, bodies, nil, 0.8))), string(got))
	var res struct {
		Groups [][][2]int `json:"groups"`
	}
	require.NoError(t, json.Unmarshal(got, &res))
	bigger := 0
	for _, g := range res.Groups {
		if len(g) > 2 {
			bigger++
		}
	}
	require.Greater(t, bigger, 500, "multi-party groups")
}

// blocksOf assigns each record to blocks by its position, with overlaps, deterministically.
func blocksOf(n int) [][]string {
	out := make([][]string, n)
	for i := range out {
		out[i] = []string{fmt.Sprint("b", i%7)}
		if i%3 == 0 {
			out[i] = append(out[i], "shared")
		}
	}
	return out
}

func TestBlocking(t *testing.T) {
	e := newEnv(t, true, withChunk(1_000_000))
	p := e.createProject("groups", 3, true)
	bodies := make([][]byte, 3)
	for i := range bodies { // the first 1500 records of each party keep the test quick under -race
		bodies[i], _ = json.Marshal(map[string][]string{"clks": clkStrings(t, tutorial(t, i))[:1500]})
	}
	blocks := make([][][]string, 3)
	for i, b := range bodies {
		blocks[i] = blocksOf(len(clkStrings(t, b)))
	}
	// Without blocks, a blocking project refuses the upload.
	r := e.do("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[0], bodies[0])
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "blocking")

	// Party 0: clknblocks.
	var cb bytes.Buffer
	cb.WriteString(`{"clknblocks":[`)
	for i, s := range clkStrings(t, bodies[0]) {
		if i > 0 {
			cb.WriteByte(',')
		}
		row, _ := json.Marshal(append([]string{s}, blocks[0][i]...))
		cb.Write(row)
	}
	cb.WriteString(`]}`)
	e.upload(p, 0, cb.Bytes())
	// Parties 1 and 2: encodings + blocks (blocks first for party 2).
	for _, party := range []int{1, 2} {
		m := map[string][]string{}
		for i, bl := range blocks[party] {
			m[strconv.Itoa(i)] = bl
		}
		enc, _ := json.Marshal(clkStrings(t, bodies[party]))
		bl, _ := json.Marshal(m)
		body := `{"encodings":` + string(enc) + `,"blocks":` + string(bl) + `}`
		if party == 2 {
			body = `{"blocks":` + string(bl) + `,"encodings":` + string(enc) + `}`
		}
		e.upload(p, party, []byte(body))
	}
	run := e.createRun(p, 0.8)
	require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)
	withBlocks := expected(t, bodies, blocks, 0.8)
	require.Equal(t, string(groupsJSON(t, withBlocks)), string(e.result(p, run, p.ResultToken)))
	require.Less(t, len(withBlocks), len(expected(t, bodies, nil, 0.8)), "blocking compares fewer pairs")
}

func TestRepeatedSlashesNeverRedirect(t *testing.T) {
	e := newEnv(t, false)
	for _, path := range []string{"//projects", "/projects/", "//projects//"} {
		r := e.do("POST", path, "", map[string]any{"schema": map[string]any{}, "result_type": "groups"})
		require.Equal(t, http.StatusCreated, r.status, "%s: %s", path, r.body)
	}
	r := e.do("GET", "///status", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.True(t, strings.Contains(string(r.body), `"project_count":3`), "%s", r.body)
}
