package http_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/histogram"
	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/worker"
)

// firstRecords keeps the first n records of a {"clks": [...]} body.
func firstRecords(t *testing.T, body []byte, n int) []byte {
	b, err := json.Marshal(map[string]any{"clks": clkStrings(t, body)[:n]})
	require.NoError(t, err)
	return b
}

func TestRunHistogram(t *testing.T) {
	const n, threshold = 400, 0.8
	bodies := [][]byte{firstRecords(t, tutorial(t, 1), n), firstRecords(t, tutorial(t, 2), n)}
	for _, c := range []struct {
		name        string
		samplePairs int64
		stride      int
	}{{"exact", n * n, 1}, {"sampled", n * n / 4, 4}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, true, withChunk(10_000), func(_ *linkhttp.Config, w *worker.Config) {
				w.Histogram = worker.HistogramConfig{Floor: 0.5, SamplePairs: c.samplePairs}
			})
			p := e.createProject("groups", 2, false)
			receipt := e.upload(p, 0, bodies[0])
			path := "/projects/" + p.ProjectID + "/runs/"
			e.upload(p, 1, bodies[1])
			run := e.createRun(p, threshold)
			require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)

			r := e.do("GET", path+run+"/histogram", p.ResultToken, nil)
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			require.Equal(t, "application/json", r.header.Get("Content-Type"))
			var h histogram.Histogram
			require.NoError(t, json.Unmarshal(r.body, &h))
			require.Equal(t, c.stride, h.Stride)
			require.Equal(t, int64(n*n/c.stride), h.Compared, "every chunk sampled the same rows")

			// Every pair at or above the floor, as the engine finds it, binned.
			want, err := histogram.New(0.5, histogram.DefaultBins, 1, 1)
			require.NoError(t, err)
			want.AddCandidates(expected(t, bodies, nil, 0.5))
			for i := range h.Bins {
				if lo, _ := h.Edges(i); lo >= threshold || c.stride == 1 {
					require.Equal(t, want.Count(i), h.Count(i), "bin %d is exact", i)
				} else {
					require.InDelta(t, want.Count(i), h.Count(i), 0.5*float64(want.Count(i))+20, "bin %d is estimated", i)
				}
			}

			r = e.do("GET", path+run+"/histogram?scale=linear", p.ResultToken, nil, "Accept", "text/html, image/svg+xml;q=0.9")
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, "image/svg+xml", r.header.Get("Content-Type"))
			require.True(t, strings.HasPrefix(string(r.body), "<svg"))
			require.Contains(t, string(r.body), "threshold 0.8")

			require.Equal(t, http.StatusBadRequest, e.do("GET", path+run+"/histogram?scale=cubic", p.ResultToken, nil).status)
			require.Equal(t, http.StatusForbidden, e.do("GET", path+run+"/histogram", receipt, nil).status, "the result token is needed")
		})
	}
}

func TestRunHistogramNotReadyOrDisabled(t *testing.T) {
	e := newEnv(t, false) // no workers: the run stays queued
	p := e.createProject("groups", 2, false)
	body := firstRecords(t, tutorial(t, 1), 50)
	e.upload(p, 0, body)
	e.upload(p, 1, body)
	run := e.createRun(p, 0.9)
	r := e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/histogram", p.ResultToken, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Contains(t, string(r.body), "histogram is recorded when it completes")

	e.startWorkers(worker.Config{Concurrency: 1}) // histograms off
	require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)
	r = e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/histogram", p.ResultToken, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Contains(t, string(r.body), "--histogram-floor 0")
}
