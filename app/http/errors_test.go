package http_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/linkage"
)

// requireProblem checks an RFC 7807 answer with the given status.
func requireProblem(t *testing.T, r response, status int, detail string) map[string]any {
	t.Helper()
	require.Equal(t, status, r.status, "%s", r.body)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	p := r.json(t)
	require.EqualValues(t, status, p["status"])
	require.NotEmpty(t, p["title"])
	require.NotEmpty(t, p["instance"])
	require.Contains(t, p["detail"], detail)
	return p
}

func TestCreateProjectValidation(t *testing.T) {
	e := newEnv(t, false)
	for name, tc := range map[string]struct {
		body   string
		detail string
	}{
		"no schema":            {`{"result_type":"groups"}`, "schema"},
		"schema not an object": {`{"schema":[1],"result_type":"groups"}`, "schema"},
		"no result type":       {`{"schema":{}}`, "result_type"},
		"unknown result type":  {`{"schema":{},"result_type":"pairs"}`, "result_type"},
		"one party":            {`{"schema":{},"result_type":"groups","number_parties":1}`, "number_parties"},
		"permutations of 3":    {`{"schema":{},"result_type":"permutations","number_parties":3}`, "exactly 2"},
		"malformed":            {`{"schema":`, "malformed JSON"},
	} {
		t.Run(name, func(t *testing.T) {
			requireProblem(t, e.do("POST", "/projects", "", tc.body), http.StatusBadRequest, tc.detail)
		})
	}
	p := requireProblem(t, e.do("POST", "/projects", "", `{"schema":{},"result_type":"groups","number_parties":1000}`),
		http.StatusRequestEntityTooLarge, "max-parties")
	require.Equal(t, "max-parties", p["limit"])
}

func TestTokens(t *testing.T) {
	e := newEnv(t, true)
	p := e.createProject("groups", 2, false)
	other := e.createProject("groups", 2, false)
	body := readFile(t, "binary/clks_128B_1k.json")
	forbidden := "does not exist or the token is not valid"

	// Unknown project, wrong token, empty token, another project's token: the same 403.
	for _, tc := range []struct{ pid, token string }{
		{linkage.NewID(), p.ResultToken}, {p.ProjectID, linkage.NewID()}, {p.ProjectID, " "}, {p.ProjectID, other.ResultToken},
		{"not-an-id", p.ResultToken}, {p.ProjectID, other.UpdateTokens[0]},
	} {
		requireProblem(t, e.do("GET", "/projects/"+tc.pid, tc.token, nil), http.StatusForbidden, forbidden)
		requireProblem(t, e.do("POST", "/projects/"+tc.pid+"/clks", tc.token, body), http.StatusForbidden, forbidden)
		requireProblem(t, e.do("POST", "/projects/"+tc.pid+"/runs", tc.token, `{"threshold":0.9}`), http.StatusForbidden, forbidden)
	}
	// An update token cannot create runs or delete; a result token cannot upload.
	requireProblem(t, e.do("POST", "/projects/"+p.ProjectID+"/runs", p.UpdateTokens[0], `{"threshold":0.9}`), http.StatusForbidden, forbidden)
	requireProblem(t, e.do("DELETE", "/projects/"+p.ProjectID, p.UpdateTokens[0], nil), http.StatusForbidden, forbidden)
	requireProblem(t, e.do("POST", "/projects/"+p.ProjectID+"/clks", p.ResultToken, body), http.StatusForbidden, forbidden)
	// Update tokens only upload: they do not read the project (the reference's scopes).
	requireProblem(t, e.do("GET", "/projects/"+p.ProjectID, p.UpdateTokens[1], nil), http.StatusForbidden, forbidden)

	// An update token serves one upload only.
	e.upload(p, 0, body)
	requireProblem(t, e.do("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[0], body), http.StatusForbidden, forbidden)
	requireProblem(t, e.do("POST", "/projects/"+p.ProjectID+"/binaryclks", p.UpdateTokens[0], binaryOf(t, body),
		"Hash-Count", "1000", "Hash-Size", "128"), http.StatusForbidden, forbidden)

	// A run id of another project is the same 403.
	e.upload(other, 0, body)
	e.upload(other, 1, body)
	otherRun := e.createRun(other, 0.9)
	requireProblem(t, e.do("GET", "/projects/"+p.ProjectID+"/runs/"+otherRun+"/status", p.ResultToken, nil), http.StatusForbidden, forbidden)

	// Tokens are stored hashed: the database holds no token.
	db, err := os.ReadFile(filepath.Join(e.dir, "linkage.db"))
	require.NoError(t, err)
	wal, _ := os.ReadFile(filepath.Join(e.dir, "linkage.db-wal"))
	for _, tok := range append([]string{p.ResultToken}, p.UpdateTokens...) {
		require.False(t, bytes.Contains(db, []byte(tok)) || bytes.Contains(wal, []byte(tok)), "token stored in clear")
	}
}

func TestConcurrentUploadsWithOneToken(t *testing.T) {
	e := newEnv(t, false)
	p := e.createProject("groups", 2, false)
	body := readFile(t, "binary/clks_128B_1k.json")
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = e.do("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[0], body).status
		})
	}
	wg.Wait()
	created := 0
	for _, s := range statuses {
		if s == http.StatusCreated {
			created++
		} else {
			require.Equal(t, http.StatusForbidden, s)
		}
	}
	require.Equal(t, 1, created, "exactly one upload per update token: %v", statuses)
}

func TestUploadErrors(t *testing.T) {
	e := newEnv(t, false, withLimits(linkhttp.Limits{MaxUploadRecords: 1500, MaxUploadBytes: 4 << 20}))
	p := e.createProject("groups", 2, false)
	good := clkStrings(t, readFile(t, "binary/clks_128B_1k.json"))
	short := good[0][:len(good[0])-12] + "===="
	path := "/projects/" + p.ProjectID + "/clks"
	enc := func(v any) string { b, _ := json.Marshal(v); return string(b) }

	for name, tc := range map[string]struct {
		body   string
		status int
		detail string
	}{
		"bad base64":       {enc(map[string]any{"clks": []string{good[0], "!!not base64!!"}}), 400, "record 1"},
		"unequal lengths":  {enc(map[string]any{"clks": []string{good[0], good[1], short}}), 400, "record 2"},
		"not an object":    {`[1,2]`, 400, "JSON object"},
		"truncated":        {`{"clks":["` + good[0] + `",`, 400, "malformed JSON"},
		"no encodings":     {`{"foo":1}`, 400, "none of clks"},
		"empty":            {`{"clks":[]}`, 400, "no CLKs"},
		"number as clk":    {`{"clks":[12]}`, 400, "base64 string"},
		"trailing garbage": {enc(map[string]any{"clks": good[:2]}) + "x", 400, "after the JSON"},
		"blocks beyond":    {`{"encodings":` + enc(good[:2]) + `,"blocks":{"5":["a"]}}`, 400, "record 5"},
		"too many records": {enc(map[string]any{"clks": append(append([]string{}, good...), good[:600]...)}), 413, "max-upload-records"},
		"object store off": {`{"encodings":{"file":{"bucket":"b","path":"p"}}}`, 500, "not enabled"}, // as authorize-external-upload
	} {
		t.Run(name, func(t *testing.T) {
			requireProblem(t, e.do("POST", path, p.UpdateTokens[0], tc.body), tc.status, tc.detail)
		})
	}
	// max-upload-bytes: a body of 5 MiB (in short strings: a long one meets max-json-token-bytes).
	pad := enc(map[string]any{"padding": slices.Repeat([]string{strings.Repeat("x", 64)}, 80_000), "clks": good})
	pr := requireProblem(t, e.do("POST", path, p.UpdateTokens[0], pad), 413, "max-upload-bytes")
	require.Equal(t, "max-upload-bytes", pr["limit"])

	// Failed uploads handed the token back and left no blob.
	require.Empty(t, e.uploadBlobs(p.ProjectID))
	e.upload(p, 0, []byte(enc(map[string]any{"clks": good})))
}

func TestBinaryUploadErrors(t *testing.T) {
	e := newEnv(t, false)
	p := e.createProject("groups", 2, false)
	bin := binaryOf(t, readFile(t, "binary/clks_128B_1k.json"))
	path := "/projects/" + p.ProjectID + "/binaryclks"
	tok := p.UpdateTokens[0]
	requireProblem(t, e.do("POST", path, tok, bin, "Hash-Size", "128"), 400, "Hash-Count")
	for _, size := range []string{"0", "1025", "x", "-8", ""} {
		requireProblem(t, e.do("POST", path, tok, bin, "Hash-Count", "1000", "Hash-Size", size), 400, "Hash-Size must be an integer from 1 to 1024")
	}
	requireProblem(t, e.do("POST", path, tok, bin, "Hash-Count", "0", "Hash-Size", "128"), 400, "Hash-Count")
	requireProblem(t, e.do("POST", path, tok, bin, "Hash-Count", "999", "Hash-Size", "128"), 400, "Content-Length")
	requireProblem(t, e.do("POST", path, tok, io.MultiReader(bytes.NewReader(bin[:1000])), "Hash-Count", "1000", "Hash-Size", "128"), 400, "body has 1000 bytes")
	requireProblem(t, e.do("POST", path, tok, io.MultiReader(bytes.NewReader(append(bin, 1))), "Hash-Count", "1000", "Hash-Size", "128"), 400, "longer")
	r := e.do("POST", path, tok, bin, "Hash-Count", strconv.Itoa(len(bin)/128), "Hash-Size", "128")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
}

func TestRunErrors(t *testing.T) {
	e := newEnv(t, true)
	p := e.createProject("groups", 2, false)
	path := "/projects/" + p.ProjectID + "/runs"
	for _, body := range []string{`{"threshold":0}`, `{"threshold":1.5}`, `{"threshold":-0.2}`, `{}`, `{"threshold":"x"}`} {
		requireProblem(t, e.do("POST", path, p.ResultToken, body), http.StatusBadRequest, "threshold")
	}
	require.Equal(t, http.StatusCreated, e.do("POST", path, p.ResultToken, `{"threshold":1}`).status)
}

func TestDeleteProject(t *testing.T) {
	e := newEnv(t, true)
	p := e.createProject("groups", 2, false)
	body := readFile(t, "binary/clks_128B_1k.json")
	e.upload(p, 0, body)
	e.upload(p, 1, body)
	run := e.createRun(p, 0.95)
	require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)
	require.NoError(t, func() error { _, err := e.blobs.Get(t.Context(), e.resultKey(p.ProjectID, run, "")); return err }())

	// Deleting a run removes it and its result.
	run2 := e.createRun(p, 0.99)
	require.Equal(t, linkage.RunCompleted, e.wait(p, run2).State)
	key2 := e.resultKey(p.ProjectID, run2, "")
	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/projects/"+p.ProjectID+"/runs/"+run2, p.ResultToken, nil).status)
	requireProblem(t, e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run2+"/status", p.ResultToken, nil), http.StatusForbidden, "")
	_, err := e.blobs.Get(t.Context(), key2)
	require.ErrorIs(t, err, linkage.ErrNotFound)

	require.Equal(t, http.StatusNoContent, e.do("DELETE", "/projects/"+p.ProjectID, p.ResultToken, nil).status)
	for _, path := range []string{"", "/runs", "/runs/" + run + "/status", "/runs/" + run + "/result"} {
		requireProblem(t, e.do("GET", "/projects/"+p.ProjectID+path, p.ResultToken, nil), http.StatusForbidden, "")
	}
	requireProblem(t, e.do("DELETE", "/projects/"+p.ProjectID, p.ResultToken, nil), http.StatusForbidden, "")
	entries, err := os.ReadDir(filepath.Join(e.dir, "blobs", "projects"))
	require.NoError(t, err)
	require.Empty(t, entries, "the project's blobs are removed")
}

func TestNotFoundAndMethodProblems(t *testing.T) {
	e := newEnv(t, false)
	requireProblem(t, e.do("GET", "/nothing", "", nil), http.StatusNotFound, "no endpoint")
	r := e.do("PUT", "/projects", "", nil)
	requireProblem(t, r, http.StatusMethodNotAllowed, "no endpoint")
	require.Contains(t, r.header.Get("Allow"), "POST")
}

func TestServiceEndpoints(t *testing.T) {
	e := newEnv(t, false)
	r := e.do("GET", "/version", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	v := r.json(t)
	for _, k := range []string{"anonlink", "entityservice", "python", "go"} {
		require.NotEmpty(t, v[k], k)
	}
	r = e.do("GET", "/status", "", nil)
	require.Equal(t, "ok", r.json(t)["status"])
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	e.createProject("groups", 2, false)
	resp, err := http.Get(e.srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	require.Contains(t, b.String(), `linkage_http_requests_total{code="201",method="POST",route="POST /projects"} 1`)
	require.Contains(t, b.String(), `linkage_runs{state="created"} 0`)
	require.NotEmpty(t, resp.Header.Get("Content-Type"))
	require.NotEmpty(t, r.header.Get("X-Request-Id"))
}
