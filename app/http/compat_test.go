package http_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
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
			require.Equal(t, "completed", e.wait(p, run).State)
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

// TestStatusRateIsInteger: GET /status reports rate as a JSON integer.
func TestStatusRateIsInteger(t *testing.T) {
	e := newEnv(t, true)
	r := e.do("GET", "/status", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	require.Regexp(t, `"rate":\d+[,}]`, string(r.body))
}
