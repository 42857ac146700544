package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/memqueue"
	"github.com/linkage-platform/linkage/app/worker"
)

var fastWorkers = worker.Config{Concurrency: 2, ReconcileInterval: 100 * time.Millisecond, ProgressInterval: 10 * time.Millisecond, MaxAttempts: 2}

// A restart loses the in-process queue; the reconciler of the new process finds the queued and
// the running runs in the database and finishes them.
func TestRunsSurviveRestart(t *testing.T) {
	e := newEnv(t, false)
	body := readFile(t, "binary/clks_128B_1k.json")
	queued := e.createProject("groups", 2, false)
	e.upload(queued, 0, body)
	e.upload(queued, 1, body)
	queuedRun := e.createRun(queued, 0.99)

	running := e.createProject("similarity_scores", 2, false)
	e.upload(running, 0, body)
	e.upload(running, 1, body)
	runningRun := e.createRun(running, 0.99)
	// A worker started the run (chunks in the database) and died before enqueueing them.
	pl := worker.NewPlan([]int64{1000, 1000}, 100_000)
	require.NoError(t, e.store.StartRun(context.Background(), runningRun, pl.RunPlan(), pl.Chunks(runningRun, 0, 3), time.Now()))
	st := e.do("GET", "/projects/"+running.ProjectID+"/runs/"+runningRun+"/status", running.ResultToken, nil).json(t)
	require.Equal(t, "running", st["state"])

	e.queue = memqueue.New(memqueue.Options{Backoff: 20 * time.Millisecond, Logger: quietLogger()}) // the restart
	e.startWorkers(fastWorkers)
	require.Equal(t, linkage.RunCompleted, e.wait(queued, queuedRun).State)
	require.Equal(t, linkage.RunCompleted, e.wait(running, runningRun).State)
	got := string(e.result(running, runningRun, running.ResultToken))
	require.True(t, strings.HasSuffix(got, `[[0,999],[1,999],1.0]]}`+"\n"), "all 1000 self-matches, last: %s", got[max(0, len(got)-60):])
}

// A chunk that keeps failing makes the run an error with a message, never leaves it running.
func TestFailingRunEndsInError(t *testing.T) {
	e := newEnv(t, true, withWorkerConfig(func(c *worker.Config) { *c = fastWorkers }))
	p := e.createProject("groups", 2, false)
	body := readFile(t, "binary/clks_128B_1k.json")
	e.upload(p, 0, body)
	e.upload(p, 1, body)
	require.NoError(t, e.blobs.DeletePrefix(context.Background(), e.uploadKey(p.ProjectID, 1))) // storage lost it
	run := e.createRun(p, 0.9)
	st := e.wait(p, run)
	require.Equal(t, linkage.RunError, st.State)
	// The cause, not "failed N times" (a lost blob used to be filed as a deleted run).
	require.Contains(t, st.Message, "read upload of party 1")
	require.Contains(t, st.Message, "not found")
	requireProblem(t, e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/result", p.ResultToken, nil), http.StatusNotFound, "read upload of party 1")
}

// A transient error that fails every attempt ends the run with that error as the cause, not only
// "failed N times", at the chunk and at the solve.
func TestExhaustedAttemptsNameTheCause(t *testing.T) {
	for _, point := range []string{worker.FaultChunkCompared, worker.FaultSolveStarted} {
		t.Run(point, func(t *testing.T) {
			cfg := fastWorkers
			cfg.Fault = func(_ context.Context, at string, _ int) error {
				if at == point {
					return errors.New("disk on fire 7431")
				}
				return nil
			}
			e := newEnv(t, true, withWorkerConfig(func(c *worker.Config) { *c = cfg }))
			p := e.createProject("groups", 2, false)
			body := readFile(t, "binary/clks_128B_1k.json")
			e.upload(p, 0, body)
			e.upload(p, 1, body)
			run := e.createRun(p, 0.99)
			st := e.wait(p, run)
			require.Equal(t, linkage.RunError, st.State)
			require.Contains(t, st.Message, "failed 2 times; last error: ")
			require.Contains(t, st.Message, "disk on fire 7431")
		})
	}
}

func TestConcurrentClients(t *testing.T) {
	e := newEnv(t, true)
	body := readFile(t, "binary/clks_128B_1k.json")
	single := []byte(`{"clks":["` + clkStrings(t, body)[5] + `"]}`)
	types := []string{"groups", "permutations", "similarity_scores"}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			rt := types[i%3]
			p := e.createProject(rt, 2, false)
			var inner sync.WaitGroup
			var receipts [2]string
			inner.Go(func() { receipts[0] = e.upload(p, 0, body) })
			inner.Go(func() { receipts[1] = e.upload(p, 1, single) })
			inner.Wait()
			run := e.createRun(p, 0.95)
			require.Equal(t, linkage.RunCompleted, e.wait(p, run).State, "project %d", i)
			token := p.ResultToken
			got := string(e.result(p, run, token))
			switch rt {
			case "groups":
				require.Equal(t, `{"groups":[[[0,5],[1,0]]]}`+"\n", got)
			case "similarity_scores":
				require.Equal(t, `{"similarity_scores":[[[0,5],[1,0],1.0]]}`+"\n", got)
			default:
				// m = min(1000, 1) = 1 row, and the one match (0,5)~(1,0) takes it.
				require.Equal(t, `{"mask":[1]}`+"\n", got)
				ctx := t.Context()
				p0, err := e.api.Permutation(ctx, p.ProjectID, run, receipts[0])
				require.NoError(t, err)
				p1, err := e.api.Permutation(ctx, p.ProjectID, run, receipts[1])
				require.NoError(t, err)
				require.Equal(t, client.Permutation{Permutation: []int{0}, Rows: 1}, p1)
				require.Equal(t, 1, p0.Rows)
				require.ElementsMatch(t, rangeOf(1000), p0.Permutation, "a permutation of party 0's rows")
				require.Equal(t, 0, p0.Permutation[5], "the match shares the masked row")
			}
		})
	}
	wg.Wait()
	r := e.do("GET", "/status", "", nil)
	require.EqualValues(t, 12, r.json(t)["project_count"])
	r = e.do("GET", "/projects", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	var list []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &list))
	require.Len(t, list, 12)
}

func TestResultPairsLimit(t *testing.T) {
	e := newEnv(t, true, withWorkerConfig(func(c *worker.Config) { *c = fastWorkers; c.MaxSolverPairs = 10 }))
	p := e.createProject("groups", 2, false)
	body := readFile(t, "binary/clks_128B_1k.json")
	e.upload(p, 0, body)
	e.upload(p, 1, body)
	run := e.createRun(p, 0.99)
	st := e.wait(p, run)
	require.Equal(t, linkage.RunError, st.State)
	require.Contains(t, st.Message, "max-solver-pairs")
	requireProblem(t, e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/result", p.ResultToken, nil), http.StatusNotFound, "max-solver-pairs")
}

// A spot interruption (graceful shutdown) hands the running chunk back without spending one of
// its attempts: with --max-attempts 1 the run still completes on the next worker. The worker is
// held at the fault point "chunk compared" until its shutdown, so the test does not depend on
// timing.
func TestHandBackSpendsNoAttempt(t *testing.T) {
	cfg := fastWorkers
	cfg.MaxAttempts, cfg.ShutdownGrace = 1, 10*time.Millisecond
	reached := make(chan struct{})
	var once sync.Once
	held := cfg
	held.Fault = func(ctx context.Context, point string, _ int) error {
		if point != worker.FaultChunkCompared {
			return nil
		}
		once.Do(func() { close(reached) })
		<-ctx.Done()
		return ctx.Err()
	}
	e := newEnv(t, true, withWorkerConfig(func(c *worker.Config) { *c = held }))
	p := e.createProject("groups", 2, false)
	body := readFile(t, "binary/clks_128B_1k.json")
	e.upload(p, 0, body)
	e.upload(p, 1, body)
	run := e.createRun(p, 0.99)
	<-reached
	e.stopWorkers()
	c, err := e.store.GetChunk(t.Context(), run, 0)
	require.NoError(t, err)
	require.Zero(t, c.Attempts, "the handed-back chunk's attempt was given back")

	e.startWorkers(cfg)
	st := e.wait(p, run)
	require.Equal(t, linkage.RunCompleted, st.State, st.Message)
	require.Contains(t, string(e.result(p, run, p.ResultToken)), "[[0,999],[1,999]]")
}

// rangeOf is 0..n-1.
func rangeOf(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// Two solves of one permutations run (a duplicated task): the second passes its check of the
// run before the first completes, then stores its parts after the first completed. The
// finished result is never written again: the second solve writes under keys of its own
// (never one of the first's), its completion is refused, it deletes exactly its own blobs, and
// the first solve's files stay the same files with the same bytes, served as before. A solve
// started after completion stores nothing.
func TestSecondSolveCannotChangeResult(t *testing.T) {
	cfg := fastWorkers
	cfg.MaxAttempts = 5
	firstAtSolve, releaseFirst := make(chan struct{}), make(chan struct{})
	var once sync.Once
	first := cfg
	first.Fault = func(ctx context.Context, point string, _ int) error {
		if point == worker.FaultSolveStarted {
			once.Do(func() { close(firstAtSolve) })
			select {
			case <-releaseFirst:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}
	e := newEnv(t, true, withWorkerConfig(func(c *worker.Config) { *c = first }))
	p := e.createProject("permutations", 2, false)
	receipts := []string{e.upload(p, 0, tutorial(t, 0)), e.upload(p, 1, tutorial(t, 1))}
	run := e.createRun(p, 0.8)
	<-firstAtSolve

	solveTask := linkage.Task{ID: worker.KindSolve + ":" + run, Kind: worker.KindSolve,
		Payload: []byte(`{"project_id":"` + p.ProjectID + `","run_id":"` + run + `"}`)}
	secondStored, releaseSecond := make(chan struct{}), make(chan struct{})
	second := cfg
	second.Fault = func(ctx context.Context, point string, stored int) error {
		if point == worker.FaultResultWrite && stored == 1 {
			close(secondStored)
			<-releaseSecond
		}
		return nil
	}
	late := &countingBlobs{BlobStore: e.blobs}
	secondDone := make(chan error, 1)
	go func() {
		secondDone <- worker.New(e.store, late, e.queue, quietLogger(), nil, second).Handle(t.Context(), solveTask)
	}()
	<-secondStored // checked the run (running), stored party 0's permutation

	close(releaseFirst)
	st := e.wait(p, run)
	require.Equal(t, linkage.RunCompleted, st.State, st.Message)
	documents := func() []string {
		docs := []string{string(e.result(p, run, p.ResultToken))}
		for _, r := range receipts {
			docs = append(docs, string(e.result(p, run, r)))
		}
		return docs
	}
	finished := documents()
	require.Contains(t, finished[0], "1", "the tutorial data has matches")
	// The recorded attempt's blobs, read from the blob store: what is served, as stored files.
	parts := []string{linkage.PartMask, linkage.PartParty(0), linkage.PartParty(1)}
	firstKeys := make([]string, len(parts))
	stored := make([]string, len(parts))
	files := make([]os.FileInfo, len(parts))
	for i, part := range parts {
		firstKeys[i] = e.resultKey(p.ProjectID, run, part)
		stored[i] = string(e.blob(firstKeys[i]))
		var err error
		files[i], err = os.Stat(filepath.Join(e.dir, "blobs", filepath.FromSlash(firstKeys[i])))
		require.NoError(t, err)
	}
	requireSame(t, stored, finished, "the served result is not the recorded attempt's blobs")

	close(releaseSecond)
	require.NoError(t, <-secondDone)
	puts, deleted := late.calls()
	require.Len(t, puts, len(parts), "the second solve stored every part (after the run completed)")
	r, err := e.store.GetRun(t.Context(), p.ProjectID, run)
	require.NoError(t, err)
	for _, key := range puts {
		require.NotContains(t, firstKeys, key, "the second solve wrote a blob of the finished result")
		require.False(t, strings.HasPrefix(key, linkage.SolvePrefix(p.ProjectID, run, r.ResultAttempt)), key)
		_, err := e.blobs.Get(t.Context(), key)
		require.ErrorIs(t, err, linkage.ErrNotFound, "the losing solve left its blob %s", key)
	}
	require.Len(t, deleted, 1, "the losing solve deletes its own blobs once")
	require.True(t, strings.HasPrefix(puts[0], deleted[0]) && deleted[0] != linkage.RunPrefix(p.ProjectID, run),
		"the losing solve deleted %s, not its own prefix", deleted[0])
	for i, key := range firstKeys {
		now, err := os.Stat(filepath.Join(e.dir, "blobs", filepath.FromSlash(key)))
		require.NoError(t, err)
		require.True(t, os.SameFile(files[i], now) && files[i].ModTime().Equal(now.ModTime()), "%s was written again", key)
		require.True(t, stored[i] == string(e.blob(key)), "%s changed", key)
	}
	requireSame(t, finished, documents(), "the finished result changed under its readers")

	// A solve task delivered after completion stores nothing.
	after := &countingBlobs{BlobStore: e.blobs}
	require.NoError(t, worker.New(e.store, after, e.queue, quietLogger(), nil, cfg).Handle(t.Context(), solveTask))
	puts, _ = after.calls()
	require.Empty(t, puts)
	requireSame(t, finished, documents(), "a late solve changed the result")
}

// requireSame compares result documents without printing them (they are long).
func requireSame(t *testing.T, want, got []string, msg string) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.True(t, want[i] == got[i], "%s: document %d (0: the mask, 1 and 2: the parties' permutations)", msg, i)
	}
}

// countingBlobs records the keys a worker puts and the prefixes it deletes.
type countingBlobs struct {
	linkage.BlobStore
	mu            sync.Mutex
	puts, deleted []string
}

func (b *countingBlobs) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	b.mu.Lock()
	b.puts = append(b.puts, key)
	b.mu.Unlock()
	return b.BlobStore.Put(ctx, key, r)
}

func (b *countingBlobs) DeletePrefix(ctx context.Context, prefix string) error {
	b.mu.Lock()
	b.deleted = append(b.deleted, prefix)
	b.mu.Unlock()
	return b.BlobStore.DeletePrefix(ctx, prefix)
}

func (b *countingBlobs) calls() (puts, deleted []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.puts...), append([]string(nil), b.deleted...)
}
