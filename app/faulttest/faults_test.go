//go:build faults

// Fault tests: the API and two worker processes on Postgres, Redis and S3 (moto) lose nothing
// when a worker is killed, Redis restarts (losing its data) or Postgres stops for a while.
// Run with `make test-faults` after `make services`.
package faulttest

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	threshold = 0.8
	records   = 30_000 // per party: 900M comparisons in 90 chunks
)

// workerFlags make each worker process one CPU's worth (as with a CPU limit of 1) and runs
// long enough to be interrupted.
var workerFlags = []string{"--concurrency", "1", "--compare-workers", "1", "--chunk-comparisons", "10000000"}

func TestFaults(t *testing.T) {
	c := newCluster(t, workerFlags...)
	a, b := writeParties(t, c.dir, records, 42)
	want := expectedGroups(t, threshold, a, b)
	c.startWorker()
	c.startWorker()

	// Every upload answered 201 stays usable: each scenario uploads anew and all projects are
	// checked at the end.
	var projects []project

	t.Run("KillWorker", func(t *testing.T) {
		c.t = t
		p := c.newProject(a, b)
		projects = append(projects, p)
		run := c.newRun(p, threshold)
		c.waitComparing(p, run, 0.2)
		c.workers[0].kill9(t)
		c.waitCompleted(p, run, 3*time.Minute)
		require.Equal(t, want, c.groups(p, run))
		c.workers[0] = c.startWorker()
		c.workers = c.workers[:2]
	})

	t.Run("RestartRedis", func(t *testing.T) {
		c.t = t
		p := c.newProject(a, b)
		projects = append(projects, p)
		run := c.newRun(p, threshold)
		c.waitComparing(p, run, 0.2)
		c.redis.kill() // without persistence: every task is lost
		time.Sleep(time.Second)
		c.redis.start()
		c.waitCompleted(p, run, 3*time.Minute)
		require.Equal(t, want, c.groups(p, run))
	})

	t.Run("StopPostgres", func(t *testing.T) {
		c.t = t
		p := c.newProject(a, b)
		projects = append(projects, p)
		run := c.newRun(p, threshold)
		c.waitComparing(p, run, 0.2)
		c.pg.stop()
		// The API answers 503 problem JSON while the database is down, not 500, and
		// accepts no upload it could lose.
		for _, req := range []struct{ method, path, token, body string }{
			{"GET", "/projects", "", ""},
			{"GET", "/projects/" + p.id, p.resultToken, ""},
			{"GET", "/projects/" + p.id + "/runs/" + run + "/status", p.resultToken, ""},
			{"POST", "/projects", "", `{"schema": {}, "result_type": "groups"}`},
		} {
			var body io.Reader
			if req.body != "" {
				body = strings.NewReader(req.body)
			}
			status, header, b := c.call(req.method, req.path, req.token, body, nil)
			require.Equal(t, 503, status, "%s %s: %s", req.method, req.path, b)
			require.Equal(t, "application/problem+json", header.Get("Content-Type"))
			var problem map[string]any
			require.NoError(t, json.Unmarshal(b, &problem))
			require.EqualValues(t, 503, problem["status"])
			require.NotEmpty(t, problem["title"])
		}
		time.Sleep(3 * time.Second) // workers hit the outage too
		c.pg.start()
		c.waitCompleted(p, run, 3*time.Minute)
		require.Equal(t, want, c.groups(p, run))
	})

	t.Run("NoUploadLost", func(t *testing.T) {
		c.t = t
		for _, p := range projects {
			var pj struct {
				PartiesContributed int `json:"parties_contributed"`
			}
			status, _, b := c.call("GET", "/projects/"+p.id, p.resultToken, nil, &pj)
			require.Equal(t, 200, status, "%s", b)
			require.Equal(t, 2, pj.PartiesContributed)
			// A fresh run over the stored uploads gives the same answer.
			run := c.newRun(p, threshold)
			c.waitCompleted(p, run, 3*time.Minute)
			require.Equal(t, want, c.groups(p, run))
		}
	})
}
