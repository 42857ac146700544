//go:build faults

package faulttest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/proctest"
	"github.com/linkage-platform/linkage/app/worker"
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
	c.startWorker()
	c.startWorker()

	// Every upload answered 201 stays usable: each scenario uploads its own data (a swapped or
	// stale blob cannot pass) and all projects are checked again at the end. The result types
	// alternate so that each fault meets groups, permutations (mask and each party's rows) or
	// similarity scores.
	var projects []project

	t.Run("KillWorker", func(t *testing.T) {
		c.t = t
		a, b := c.dataset(1)
		p := c.newProject("groups", a, b)
		projects = append(projects, p)
		// A third worker holds the first chunk it computes at "chunk compared" (candidates
		// in memory, nothing stored): killed there, its chunk must be retaken.
		held := c.startHeld(worker.FaultChunkCompared)
		run := c.newRun(p, threshold)
		held.waitFault(t, worker.FaultChunkCompared)
		held.kill9(t)
		c.waitCompleted(p, run, 3*time.Minute)
		c.check(p, run)
		require.True(t, c.workers[0].logHas(t, "taking over a task whose worker stopped") ||
			c.workers[1].logHas(t, "taking over a task whose worker stopped"),
			"the killed worker's chunk was retaken after the visibility timeout")
	})

	t.Run("TerminateWorker", func(t *testing.T) {
		c.t = t
		a, b := c.dataset(2)
		p := c.newProject("permutations", a, b)
		projects = append(projects, p)
		held := c.startHeld(worker.FaultChunkCompared)
		run := c.newRun(p, threshold)
		held.waitFault(t, worker.FaultChunkCompared)
		// A spot interruption: SIGTERM; the held chunk is handed back when the grace period
		// (5 s here) ends, and the worker exits cleanly.
		held.terminate(t, 15*time.Second)
		require.Zero(t, held.cmd.ProcessState.ExitCode())
		c.waitCompleted(p, run, 3*time.Minute)
		c.check(p, run)
	})

	t.Run("ExternalUpload", func(t *testing.T) {
		c.t = t
		a, b := c.dataset(3)
		p, tokens := c.createProject("similarity_scores", 2)
		// authorize-external-upload hands out STS credentials for this party's prefix; the
		// client writes the binary encodings there and names the object in its upload.
		var access struct {
			Credentials linkage.Credentials `json:"credentials"`
			Upload      linkage.ObjectRef   `json:"upload"`
		}
		status, _, body := c.call("GET", "/projects/"+p.id+"/authorize-external-upload", tokens[0], nil, &access)
		require.Equal(t, 201, status, "%s", body)
		require.NotEmpty(t, access.Credentials.SessionToken)
		require.False(t, access.Upload.Secure)
		key := access.Upload.Path + "/encodings.bin" // clients append "/<file name>"
		client := s3Client(access.Upload.Endpoint, access.Upload.Secure, access.Credentials)
		_, err := client.PutObject(context.Background(), &awss3.PutObjectInput{
			Bucket: aws.String(access.Upload.Bucket), Key: aws.String(key), Body: bytes.NewReader(binaryCLKs(t, a)),
		})
		require.NoError(t, err)
		ref := fmt.Sprintf(`{"encodings": {"file": {"bucket": %q, "path": %q, "endpoint": %q, "secure": false}}}`,
			access.Upload.Bucket, key, access.Upload.Endpoint)
		req, err := http.NewRequest("POST", c.apiURL+"/projects/"+p.id+"/clks", strings.NewReader(ref))
		require.NoError(t, err)
		req.Header.Set("Authorization", tokens[0])
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Hash-Size", "128")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 201, resp.StatusCode, "%s", rb)
		var receipt struct {
			ReceiptToken string `json:"receipt_token"`
		}
		require.NoError(t, json.Unmarshal(rb, &receipt))
		p.files, p.receipts = []string{a}, []string{receipt.ReceiptToken}
		c.upload(&p, tokens[1], b)
		projects = append(projects, p)

		run := c.newRun(p, threshold)
		c.waitCompleted(p, run, 3*time.Minute)
		c.check(p, run)
	})

	t.Run("RestartRedis", func(t *testing.T) {
		c.t = t
		a, b := c.dataset(4)
		p := c.newProject("permutations", a, b)
		projects = append(projects, p)
		// A worker held at "chunk compared" keeps the run unfinished across the restart,
		// whatever the speed of the others; its lease is lost with the rest.
		held := c.startHeld(worker.FaultChunkCompared)
		run := c.newRun(p, threshold)
		held.waitFault(t, worker.FaultChunkCompared)
		c.redis.kill() // without persistence: every task is lost
		c.redis.start()
		held.terminate(t, 30*time.Second) // hands its chunk back to a queue that forgot it
		c.waitCompleted(p, run, 3*time.Minute)
		c.check(p, run)
	})

	t.Run("KillPostgres", func(t *testing.T) {
		c.t = t
		a, b := c.dataset(5)
		pa, pb := c.dataset(6)
		p := c.newProject("groups", a, b)
		projects = append(projects, p)
		pending, tokens := c.createProject("similarity_scores", 2) // its uploads are tried during the outage
		// A worker held at "chunk compared" keeps the run unfinished until the database is
		// back, whatever the speed of the others.
		held := c.startHeld(worker.FaultChunkCompared)
		run := c.newRun(p, threshold)
		held.waitFault(t, worker.FaultChunkCompared)
		live := c.liveWorkers()
		failedReconciles := c.reconcileErrors(live)
		c.pg.kill9()
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
		data, err := os.Open(pa)
		require.NoError(t, err)
		status, _, body := c.call("POST", "/projects/"+pending.id+"/clks", tokens[0], data, nil)
		data.Close()
		require.Equal(t, 503, status, "an upload the database cannot record is refused: %s", body)
		// The workers hit the outage too (their reconciler runs every second).
		proctest.Eventually(t, time.Minute, "a worker to fail a reconcile pass", func() bool {
			return c.reconcileErrors(live) > failedReconciles
		})
		c.pg.start()
		held.terminate(t, 30*time.Second) // hands its chunk back
		c.waitCompleted(p, run, 3*time.Minute)
		c.check(p, run)
		// The refused upload did not spend the update token.
		c.upload(&pending, tokens[0], pa)
		c.upload(&pending, tokens[1], pb)
		projects = append(projects, pending)
	})

	t.Run("KillWorkerAtSolve", func(t *testing.T) {
		c.t = t
		a, b := c.dataset(7)
		p := c.newProject("permutations", a, b)
		projects = append(projects, p)
		// Only a worker held at "solve started" runs, so the solve is its own: every chunk
		// compared, the solve attempt counted, nothing written. Killed there, its solve must
		// be retaken by the workers started after it and give the seeded answer.
		c.stopWorkers()
		held := c.startHeld(worker.FaultSolveStarted)
		run := c.newRun(p, threshold)
		held.waitFault(t, worker.FaultSolveStarted)
		held.kill9(t)
		fresh := []*proc{c.startWorker(), c.startWorker()}
		c.waitCompleted(p, run, 3*time.Minute)
		c.check(p, run)
		require.True(t, fresh[0].logHas(t, "taking over a task whose worker stopped") ||
			fresh[1].logHas(t, "taking over a task whose worker stopped"),
			"the killed worker's solve was retaken after the visibility timeout")
	})

	t.Run("KillWorkerAtStart", func(t *testing.T) {
		c.t = t
		projects = append(projects, c.killWorkerAtStart(t))
	})

	t.Run("KillWorkerAtResultWrite", func(t *testing.T) {
		c.t = t
		projects = append(projects, c.killWorkerAtResultWrite(t))
	})

	t.Run("KillAPIMidUpload", func(t *testing.T) {
		c.t = t
		projects = append(projects, c.killAPIMidUpload(t))
	})

	t.Run("NoUploadLost", func(t *testing.T) {
		c.t = t
		// A fresh run over every project's stored uploads gives the same answer (the runs
		// share the workers).
		runs := make([]string, len(projects))
		for i, p := range projects {
			var pj struct {
				PartiesContributed int `json:"parties_contributed"`
			}
			status, _, b := c.call("GET", "/projects/"+p.id, p.resultToken, nil, &pj)
			require.Equal(t, 200, status, "%s", b)
			require.Equal(t, 2, pj.PartiesContributed)
			runs[i] = c.newRun(p, threshold)
		}
		for i, p := range projects {
			c.waitCompleted(p, runs[i], 5*time.Minute)
			c.check(p, runs[i])
		}
	})
}

// dataset writes this seed's two parties into their own directory and returns their files.
func (c *cluster) dataset(seed uint64) (a, b string) {
	c.t.Helper()
	dir := filepath.Join(c.dir, fmt.Sprint("data-", seed))
	require.NoError(c.t, os.MkdirAll(dir, 0o750))
	return writeParties(c.t, dir, records, seed)
}

// binaryCLKs is the binary upload form of a {"clks": [...]} file: the CLKs back to back.
func binaryCLKs(t *testing.T, path string) []byte {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var f struct {
		CLKs []string `json:"clks"`
	}
	require.NoError(t, json.Unmarshal(data, &f))
	var out []byte
	for _, c := range f.CLKs {
		b, err := base64.StdEncoding.DecodeString(c)
		require.NoError(t, err)
		out = append(out, b...)
	}
	return out
}
