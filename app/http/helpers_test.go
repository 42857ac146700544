package http_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/fs"
	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/memqueue"
	"github.com/linkage-platform/linkage/app/sqlite"
	"github.com/linkage-platform/linkage/app/worker"
)

const testdata = "../../../shared/testdata"

// env is the real API handler over SQLite, files and the in-process queue, with workers.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	url    string
	api    *client.Client
	store  *sqlite.DB
	blobs  *fs.Store
	queue  *memqueue.Queue
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
}

type envOption func(*linkhttp.Config, *worker.Config)

func withLimits(l linkhttp.Limits) envOption {
	return func(c *linkhttp.Config, _ *worker.Config) { c.Limits = l }
}

func withChunk(n int64) envOption {
	return func(_ *linkhttp.Config, w *worker.Config) { w.ChunkComparisons = n }
}

func withWorkerConfig(f func(*worker.Config)) envOption {
	return func(_ *linkhttp.Config, w *worker.Config) { f(w) }
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// newEnv starts the API; startWorkers=false leaves the queue unconsumed (runs stay queued).
func newEnv(t *testing.T, startWorkers bool, opts ...envOption) *env {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "linkage.db"))
	require.NoError(t, err)
	_, err = store.Migrate(context.Background())
	require.NoError(t, err)
	blobs, err := fs.New(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	e := &env{t: t, store: store, blobs: blobs, dir: dir}
	e.queue = memqueue.New(memqueue.Options{Backoff: 20 * time.Millisecond, Logger: quietLogger()})
	cfg := linkhttp.Config{Store: store, Blobs: blobs, Scheduler: worker.Scheduler{Queue: e.queue}, Logger: quietLogger(), Version: "test"}
	wcfg := worker.Config{Concurrency: 2, ReconcileInterval: 200 * time.Millisecond, ProgressInterval: 10 * time.Millisecond}
	for _, o := range opts {
		o(&cfg, &wcfg)
	}
	e.srv = httptest.NewServer(linkhttp.New(cfg))
	e.url = e.srv.URL + "/api/v1"
	e.api = client.New(e.srv.URL, nil)
	t.Cleanup(func() {
		e.stopWorkers()
		e.srv.Close()
		store.Close()
	})
	if startWorkers {
		e.startWorkers(wcfg)
	}
	return e
}

func (e *env) startWorkers(cfg worker.Config) {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	w := worker.New(e.store, e.blobs, e.queue, quietLogger(), nil, cfg)
	go func() {
		defer close(e.done)
		_ = w.Run(ctx)
	}()
}

func (e *env) stopWorkers() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
}

// uploadBlobs lists the blobs under the project's upload keys (every attempt's, recorded or not).
func (e *env) uploadBlobs(pid string) []string {
	e.t.Helper()
	var out []string
	dir := filepath.Join(e.dir, "blobs", filepath.FromSlash(linkage.ProjectPrefix(pid)), "uploads")
	entries, err := os.ReadDir(dir)
	if !os.IsNotExist(err) {
		require.NoError(e.t, err)
	}
	for _, en := range entries {
		out = append(out, "projects/"+pid+"/uploads/"+en.Name())
	}
	return out
}

// party is the party's record in the database.
func (e *env) party(pid string, party int) linkage.Party {
	e.t.Helper()
	parties, err := e.store.ListParties(context.Background(), pid)
	require.NoError(e.t, err)
	require.Greater(e.t, len(parties), party)
	return parties[party]
}

// uploadKey is the blob of the party's recorded upload.
func (e *env) uploadKey(pid string, party int) string {
	pa := e.party(pid, party)
	return linkage.UploadKey(pid, party, pa.Attempt)
}

// resultKey is the blob of a part of the completed run's result: the solve attempt recorded.
func (e *env) resultKey(pid, runID, part string) string {
	r, err := e.store.GetRun(e.t.Context(), pid, runID)
	require.NoError(e.t, err)
	require.NotEmpty(e.t, r.ResultAttempt, "a run completed now records its solve attempt")
	return linkage.ResultKey(pid, runID, r.ResultAttempt, part)
}

// blob reads a stored blob whole.
func (e *env) blob(key string) []byte {
	rc, err := e.blobs.Get(e.t.Context(), key)
	require.NoError(e.t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(e.t, err)
	return b
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "body: %s", r.body)
	return m
}

// do sends a request; body may be nil, []byte, a string or a value to encode as JSON.
func (e *env) do(method, path, token string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = bytes.NewReader([]byte(b))
	case io.Reader:
		rd = b
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	require.NoError(e.t, err)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if b, ok := body.([]byte); ok {
		req.ContentLength = int64(len(b))
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: out}
}

type project = client.Project

func (e *env) createProject(resultType string, parties int, blocking bool) project {
	e.t.Helper()
	p, err := e.api.CreateProject(e.t.Context(), client.NewProject{
		Schema: json.RawMessage(`{"version": 1}`), ResultType: linkage.ResultType(resultType), NumberParties: parties,
		Name: "test", Notes: "n", UsesBlocking: blocking,
	})
	require.NoError(e.t, err)
	require.Len(e.t, p.UpdateTokens, parties)
	return p
}

// upload posts a JSON body and returns the receipt token.
func (e *env) upload(p project, party int, body []byte) string {
	e.t.Helper()
	r, err := e.api.UploadJSON(e.t.Context(), p.ProjectID, p.UpdateTokens[party], bytes.NewReader(body))
	require.NoError(e.t, err)
	return r.ReceiptToken
}

func (e *env) createRun(p project, threshold float64) string {
	e.t.Helper()
	r, err := e.api.CreateRun(e.t.Context(), p.ProjectID, p.ResultToken, client.NewRun{Threshold: threshold, Name: "r"})
	require.NoError(e.t, err)
	return r.RunID
}

// wait polls the run status until it is terminal, checking that progress never goes back.
func (e *env) wait(p project, run string) client.RunStatus {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.t.Context(), 2*time.Minute)
	defer cancel()
	lastStage, lastProgress := 0, -1.0
	for {
		st, err := e.api.RunStatus(ctx, p.ProjectID, run, p.ResultToken)
		require.NoError(e.t, err)
		prog := -1.0
		if pr := st.CurrentStage.Progress; pr != nil {
			prog = pr.Relative
			require.LessOrEqual(e.t, prog, 1.0)
		}
		stage := st.CurrentStage.Number
		require.GreaterOrEqual(e.t, stage, lastStage, "stage went back: %+v", st)
		if stage == lastStage {
			require.GreaterOrEqual(e.t, prog, lastProgress, "progress went back: %+v", st)
		}
		lastStage, lastProgress = stage, prog
		if st.Terminal() {
			return st
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("run did not finish: %+v", st)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (e *env) result(p project, run, token string) []byte {
	e.t.Helper()
	r := e.do("GET", "/projects/"+p.ProjectID+"/runs/"+run+"/result", token, nil)
	require.Equal(e.t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(e.t, "application/json", r.header.Get("Content-Type"))
	return r.body
}

var fileCache sync.Map

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	if b, ok := fileCache.Load(path); ok {
		return b.([]byte)
	}
	b, err := os.ReadFile(filepath.Join(testdata, path))
	require.NoError(t, err)
	fileCache.Store(path, b)
	return b
}

func tutorial(t *testing.T, party int) []byte {
	return readFile(t, fmt.Sprintf("tutorial/clks-%d.json", party+1))
}

// clkStrings are the base64 CLKs of a {"clks": [...]} file.
func clkStrings(t *testing.T, body []byte) []string {
	t.Helper()
	var f struct {
		CLKs []string `json:"clks"`
	}
	require.NoError(t, json.Unmarshal(body, &f))
	return f.CLKs
}

func decode(t *testing.T, body []byte) *engine.CLKs {
	t.Helper()
	c, err := engine.DecodeBase64(clkStrings(t, body))
	require.NoError(t, err)
	return c
}

// binaryOf is the /binaryclks body of a {"clks": [...]} file.
func binaryOf(t *testing.T, body []byte) []byte {
	t.Helper()
	var out []byte
	for _, s := range clkStrings(t, body) {
		b, err := base64.StdEncoding.DecodeString(s)
		require.NoError(t, err)
		out = append(out, b...)
	}
	return out
}

// expected computes with the engine alone what the API must return.
func expected(t *testing.T, bodies [][]byte, blocks [][][]string, threshold float64) []engine.Candidate {
	t.Helper()
	parties := make([]*engine.CLKs, len(bodies))
	for i, b := range bodies {
		parties[i] = decode(t, b)
	}
	cands, err := engine.CompareAll(context.Background(), parties, blocks, engine.Options{Threshold: threshold})
	require.NoError(t, err)
	return slices.Clip(cands)
}
