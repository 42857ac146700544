package http_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/worker"
)

// pythonTime is an aware UTC time as Python's isoformat writes it, with microseconds.
var pythonTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$`)

// TestRunStatusFields: the status fields as api.md and the reference's clients read them.
func TestRunStatusFields(t *testing.T) {
	e := newEnv(t, true)
	body := firstRecords(t, tutorial(t, 1), 20)
	for _, tc := range []struct {
		resultType string
		stages     float64
	}{{"groups", 3}, {"permutations", 3}, {"similarity_scores", 2}} {
		t.Run(tc.resultType, func(t *testing.T) {
			p := e.createProject(tc.resultType, 2, false)
			run := e.createRun(p, 0.9) // before the uploads
			statusPath := "/projects/" + p.ProjectID + "/runs/" + run + "/status"
			st := e.do("GET", statusPath, p.ResultToken, nil).json(t)
			require.Equal(t, "created", st["state"])
			require.Contains(t, st, "time_started", "always present")
			require.Nil(t, st["time_started"], "null until the run starts")
			require.NotContains(t, st, "total_number_comparisons")
			require.NotContains(t, st, "time_completed")
			require.Regexp(t, pythonTime, st["time_added"])
			require.Equal(t, tc.stages, st["stages"])
			require.Equal(t, 1.0, st["current_stage"].(map[string]any)["number"])

			e.upload(p, 0, body)
			e.upload(p, 1, body)
			require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)
			st = e.do("GET", statusPath, p.ResultToken, nil).json(t)
			require.Regexp(t, pythonTime, st["time_started"])
			require.Regexp(t, pythonTime, st["time_completed"])
			require.Equal(t, 400.0, st["total_number_comparisons"], "20 × 20 records")
			require.Equal(t, tc.stages, st["stages"])
			cur := st["current_stage"].(map[string]any)
			require.Equal(t, tc.stages, cur["number"], "the last stage")
			require.NotContains(t, st, "message")

			runs := e.do("GET", "/projects/"+p.ProjectID+"/runs", p.ResultToken, nil)
			require.Regexp(t, `"time_added":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00"`, string(runs.body))
		})
	}
}

// TestStatusRateIsInteger: GET /status reports rate as a JSON integer (rounded).
func TestStatusRateIsInteger(t *testing.T) {
	e := newEnv(t, false, func(c *linkhttp.Config, _ *worker.Config) { c.Rate = func() float64 { return 1234.6 } })
	r := e.do("GET", "/status", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), `"rate":1235`)
	require.NotContains(t, string(r.body), `"rate":1235.`)
}

// clksOf is a {"clks": [...]} body of the given raw records.
func clksOf(t *testing.T, records ...[]byte) []byte {
	t.Helper()
	var s []string
	for _, r := range records {
		s = append(s, base64.StdEncoding.EncodeToString(r))
	}
	b, err := json.Marshal(map[string]any{"clks": s})
	require.NoError(t, err)
	return b
}

func recs(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte(i + 1)}, size)
	}
	return out
}

// TestUploadAcceptedThenFailed: JSON encodings of odd sizes are accepted (201), then the
// project's error flag is true, every run reports state error with a message naming the problem,
// and POST /runs is refused with a problem (api.md, "When an upload is refused…").
func TestUploadAcceptedThenFailed(t *testing.T) {
	e := newEnv(t, true)
	for name, tc := range map[string]struct {
		first, second []byte // party 0's and party 1's bodies
		want          string // in the message
	}{
		"not a multiple of 8": {clksOf(t, recs(3, 12)...), clksOf(t, recs(3, 16)...), "not a positive multiple of 8"},
		"below 8 bytes":       {clksOf(t, recs(3, 4)...), clksOf(t, recs(3, 16)...), "not a positive multiple of 8"},
		"above 1024 bytes":    {clksOf(t, recs(2, 1032)...), clksOf(t, recs(2, 16)...), "above the largest CLK size, 1024 bytes"},
		"sizes differ":        {clksOf(t, append(recs(2, 8), recs(1, 16)...)...), clksOf(t, recs(3, 8)...), "record 2: 16 bytes, but the CLKs are 8 bytes"},
		"differs between parties": {clksOf(t, recs(3, 16)...), clksOf(t, recs(3, 8)...),
			"record 0: 8 bytes, but the CLKs are 16 bytes (bad CLK size) (other parties uploaded 16-byte CLKs)"},
	} {
		t.Run(name, func(t *testing.T) {
			p := e.createProject("groups", 2, false)
			early := e.createRun(p, 0.9) // waits for the uploads
			proj := "/projects/" + p.ProjectID
			r := e.do("POST", proj+"/clks", p.UpdateTokens[0], tc.first)
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			r = e.do("POST", proj+"/clks", p.UpdateTokens[1], tc.second)
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)

			require.Equal(t, true, e.do("GET", proj, p.ResultToken, nil).json(t)["error"])
			st := e.do("GET", proj+"/runs/"+early+"/status", p.ResultToken, nil).json(t)
			require.Equal(t, "error", st["state"], "%v", st)
			require.Contains(t, st["message"], tc.want)
			require.Contains(t, st["message"], "cannot be linked")
			var runs []map[string]any
			require.NoError(t, json.Unmarshal(e.do("GET", proj+"/runs", p.ResultToken, nil).body, &runs))
			require.Equal(t, "error", runs[0]["state"])
			requireProblem(t, e.do("POST", proj+"/runs", p.ResultToken, `{"threshold":0.9}`), http.StatusBadRequest, tc.want)
		})
	}
	// A good project reports no error.
	p := e.createProject("groups", 2, false)
	e.upload(p, 0, clksOf(t, recs(3, 16)...))
	require.Equal(t, false, e.do("GET", "/projects/"+p.ProjectID, p.ResultToken, nil).json(t)["error"])
}

// TestUploadRefusedTokenStaysUsable: what is refused with 400 leaves the update token usable.
func TestUploadRefusedTokenStaysUsable(t *testing.T) {
	e := newEnv(t, false)
	p := e.createProject("groups", 2, false)
	proj := "/projects/" + p.ProjectID
	tok := p.UpdateTokens[0]
	bin := bytes.Repeat([]byte{7}, 3*16)
	for name, req := range map[string]struct {
		path   string
		body   []byte
		header []string
		detail string
	}{
		"not JSON":            {"/clks", []byte(`clks`), nil, "malformed JSON"},
		"not a form":          {"/clks", []byte(`{"foo":1}`), nil, "none of clks"},
		"empty clks":          {"/clks", []byte(`{"clks":[]}`), nil, "no CLKs"},
		"not base64":          {"/clks", []byte(`{"clks":["%%%"]}`), nil, "bad base64"},
		"Hash-Size missing":   {"/binaryclks", bin, []string{"Hash-Count", "3"}, "Hash-Size"},
		"Hash-Size not int":   {"/binaryclks", bin, []string{"Hash-Count", "3", "Hash-Size", "16.0"}, "Hash-Size"},
		"Hash-Size 0":         {"/binaryclks", bin, []string{"Hash-Count", "3", "Hash-Size", "0"}, "Hash-Size"},
		"Hash-Size 1025":      {"/binaryclks", bin, []string{"Hash-Count", "3", "Hash-Size", "1025"}, "Hash-Size"},
		"Hash-Count missing":  {"/binaryclks", bin, []string{"Hash-Size", "16"}, "Hash-Count"},
		"Hash-Count 0":        {"/binaryclks", bin, []string{"Hash-Count", "0", "Hash-Size", "16"}, "Hash-Count"},
		"length mismatch":     {"/binaryclks", bin, []string{"Hash-Count", "4", "Hash-Size", "16"}, "Hash-Count × Hash-Size"},
		"other content type":  {"/clks", bin, []string{"Content-Type", "text/plain"}, "application/octet-stream"},
		"binary on /clks bad": {"/clks", bin, []string{"Content-Type", "application/octet-stream", "Hash-Count", "3"}, "Hash-Size"},
	} {
		t.Run(name, func(t *testing.T) {
			requireProblem(t, e.do("POST", proj+req.path, tok, req.body, req.header...), http.StatusBadRequest, req.detail)
		})
	}
	// The token still uploads: a binary body on /clks (application/octet-stream) is accepted.
	r := e.do("POST", proj+"/clks", tok, bin, "Content-Type", "application/octet-stream", "Hash-Count", "3", "Hash-Size", "16")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	// A binary Hash-Size different from the one already uploaded is refused, token kept.
	other := bytes.Repeat([]byte{7}, 3*8)
	requireProblem(t, e.do("POST", proj+"/binaryclks", p.UpdateTokens[1], other, "Hash-Count", "3", "Hash-Size", "8"), http.StatusBadRequest, "differs")
	r = e.do("POST", proj+"/binaryclks", p.UpdateTokens[1], bin, "Hash-Count", "3", "Hash-Size", "16", "Content-Type", "application/octet-stream")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.Equal(t, false, e.do("GET", proj, p.ResultToken, nil).json(t)["error"])
}

// TestBinaryUploadIntoBlockingProject: binary uploads are accepted into a blocking project and
// every record is in one implicit block, so all pairs are compared.
func TestBinaryUploadIntoBlockingProject(t *testing.T) {
	e := newEnv(t, true)
	p := e.createProject("groups", 2, true)
	body := binaryOf(t, firstRecords(t, tutorial(t, 1), 20))
	for party := range 2 {
		r := e.do("POST", "/projects/"+p.ProjectID+"/binaryclks", p.UpdateTokens[party], body, "Hash-Count", "20", "Hash-Size", "128")
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	}
	run := e.createRun(p, 0.99)
	require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)
	var res struct {
		Groups [][][2]int `json:"groups"`
	}
	require.NoError(t, json.Unmarshal(e.result(p, run, p.ResultToken), &res))
	require.Len(t, res.Groups, 20, "every record matches its copy")
}

// TestBinaryOddHashSizeLinks: binary CLKs of a byte length that is not a multiple of 8 (the
// reference accepts 1..1024) are linked with the same Dice scores as their bytes give.
func TestBinaryOddHashSizeLinks(t *testing.T) {
	e := newEnv(t, true)
	p := e.createProject("similarity_scores", 2, false)
	// 3-byte CLKs. a0 = ff ff ff (24 bits), b0 = ff ff 0f (20 bits): Dice = 2·20/44.
	// a1 = 0f 00 00 (4 bits), b1 = 0f 00 01 (5 bits): Dice = 2·4/9.
	a := []byte{0xff, 0xff, 0xff, 0x0f, 0x00, 0x00}
	b := []byte{0xff, 0xff, 0x0f, 0x0f, 0x00, 0x01}
	for party, body := range [][]byte{a, b} {
		r := e.do("POST", "/projects/"+p.ProjectID+"/binaryclks", p.UpdateTokens[party], body, "Hash-Count", "2", "Hash-Size", "3")
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	}
	run := e.createRun(p, 0.5)
	require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)
	var res struct {
		Scores [][3]json.RawMessage `json:"similarity_scores"`
	}
	require.NoError(t, json.Unmarshal(e.result(p, run, p.ResultToken), &res))
	got := map[string]float64{}
	for _, s := range res.Scores {
		var score float64
		require.NoError(t, json.Unmarshal(s[2], &score))
		got[string(s[0])+string(s[1])] = score
	}
	// a0·b1 (2·5/29) and a1·b0 (2·4/24) are below 0.5.
	require.Equal(t, map[string]float64{"[0,0][1,0]": 2 * 20.0 / 44, "[0,1][1,1]": 2 * 4.0 / 9}, got)
}
