package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
)

// TestAuthzSweep sends every project endpoint every kind of token that must not work for it and
// expects 403 — the one answer that reveals neither whether the project exists nor which token
// kind was wrong — except a request with no Authorization header at all, which is 400 as in the
// reference. The scopes are the reference's: in a groups project only the result token reads;
// update tokens only upload. The tokens that may work are checked too, so the sweep cannot pass
// vacuously.
func TestAuthzSweep(t *testing.T) {
	e := newEnv(t, true)
	body := firstRecords(t, tutorial(t, 1), 20)
	p := e.createProject("groups", 2, false)
	receipt := e.upload(p, 0, body)
	e.upload(p, 1, body)
	run := e.createRun(p, 0.9)
	require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)
	other := e.createProject("groups", 2, false)
	otherRun := e.createRun(other, 0.9) // waits for uploads

	tokens := map[string]string{
		"empty":                       " ",
		"wrong":                       linkage.NewID(),
		"other project's result":      other.ResultToken,
		"other project's update":      other.UpdateTokens[0],
		"used update":                 p.UpdateTokens[0],
		"receipt":                     receipt,
		"result token as Bearer junk": "Bearer " + linkage.NewID(),
	}
	// The token kinds each endpoint accepts (besides the result token, checked below);
	// every other kind must get 403.
	type endpoint struct {
		method, path string
		body         any
		header       []string
		allowed      map[string]int // token kind → status
	}
	binary := []string{"Hash-Count", "20", "Hash-Size", "128", "Content-Type", "application/octet-stream"}
	proj, runPath := "/projects/"+p.ProjectID, "/projects/"+p.ProjectID+"/runs/"+run
	endpoints := []endpoint{
		{"GET", proj, nil, nil, nil},
		{"DELETE", proj, nil, nil, nil},
		{"GET", proj + "/authorize-external-upload", nil, nil, nil},
		{"POST", proj + "/clks", body, nil, nil},
		{"POST", proj + "/binaryclks", binaryOf(t, body), binary, nil},
		{"GET", proj + "/runs", nil, nil, nil},
		{"POST", proj + "/runs", map[string]any{"threshold": 0.9}, nil, nil},
		{"GET", runPath, nil, nil, nil},
		{"DELETE", runPath, nil, nil, nil},
		{"GET", runPath + "/status", nil, nil, nil},
		{"GET", runPath + "/result", nil, nil, nil},
		{"GET", runPath + "/histogram", nil, nil, nil},
	}
	for _, ep := range endpoints {
		for kind, tok := range tokens {
			t.Run(fmt.Sprintf("%s %s/%s", ep.method, strings.ReplaceAll(ep.path, p.ProjectID, "{pid}"), kind), func(t *testing.T) {
				want := http.StatusForbidden
				if s, ok := ep.allowed[kind]; ok {
					want = s
				}
				r := e.do(ep.method, ep.path, tok, ep.body, ep.header...)
				require.Equal(t, want, r.status, "%s", r.body)
				if want == http.StatusForbidden {
					require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
					require.Contains(t, string(r.body), "the project does not exist or the token is not valid")
				}
			})
		}
		// No Authorization header at all: 400 before anything else, on any project.
		for _, path := range []string{ep.path, strings.Replace(ep.path, p.ProjectID, linkage.NewID(), 1)} {
			r := e.do(ep.method, path, "", ep.body, ep.header...)
			require.Equal(t, http.StatusBadRequest, r.status, "%s %s: %s", ep.method, path, r.body)
			require.Contains(t, string(r.body), "Authorization header is required")
		}
		// The same request on a project that does not exist, with a token valid elsewhere, and
		// on a run of another project.
		for _, path := range []string{
			strings.Replace(ep.path, p.ProjectID, linkage.NewID(), 1),
			strings.Replace(ep.path, p.ProjectID, "not-an-id", 1),
			strings.Replace(ep.path, run, otherRun, 1),
		} {
			if path == ep.path {
				continue
			}
			r := e.do(ep.method, path, p.ResultToken, ep.body, ep.header...)
			require.Equal(t, http.StatusForbidden, r.status, "%s %s: %s", ep.method, path, r.body)
		}
	}

	// Positive controls with the result token (the deletions last).
	for _, c := range []struct {
		method, path string
		body         any
		status       int
	}{
		{"GET", proj, nil, 200}, {"GET", proj + "/runs", nil, 200}, {"GET", runPath, nil, 200},
		{"GET", runPath + "/status", nil, 200}, {"GET", runPath + "/result", nil, 200},
		{"GET", runPath + "/histogram", nil, 404}, // this server's workers record no histogram
		{"POST", proj + "/runs", map[string]any{"threshold": 0.9}, 201},
		{"DELETE", runPath, nil, 204}, {"DELETE", proj, nil, 204},
	} {
		r := e.do(c.method, c.path, p.ResultToken, c.body)
		require.Equal(t, c.status, r.status, "%s %s: %s", c.method, c.path, r.body)
	}
	// A fresh update token may upload (the sweep above spent none).
	require.Equal(t, http.StatusCreated, e.do("POST", "/projects/"+other.ProjectID+"/clks", other.UpdateTokens[0], body).status)
}

// TestAuthzPermutations: in a permutations project a party's receipt token reads the project, the
// run status and its own permutation (the reference's scopes); update tokens read nothing.
func TestAuthzPermutations(t *testing.T) {
	e := newEnv(t, true)
	body := firstRecords(t, tutorial(t, 1), 20)
	p := e.createProject("permutations", 2, false)
	receipt := e.upload(p, 0, body)
	e.upload(p, 1, body)
	run := e.createRun(p, 0.9)
	require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)
	proj, runPath := "/projects/"+p.ProjectID, "/projects/"+p.ProjectID+"/runs/"+run
	for _, c := range []struct {
		path          string
		receipt, used int
	}{
		{proj, 200, 403}, {runPath + "/status", 200, 403}, {runPath + "/result", 200, 403},
		{proj + "/runs", 403, 403}, {runPath, 403, 403},
	} {
		require.Equal(t, c.receipt, e.do("GET", c.path, receipt, nil).status, "receipt token, GET %s", c.path)
		require.Equal(t, c.used, e.do("GET", c.path, p.UpdateTokens[1], nil).status, "update token, GET %s", c.path)
	}
	r := e.do("GET", runPath+"/result", receipt, nil)
	require.Contains(t, string(r.body), `"permutation":`)
}
