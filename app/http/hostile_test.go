package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/fs"
	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/worker"
)

// Requests and runs an attacker can make without credentials (creating a project needs none)
// must be refused within the budgets, before the memory is allocated.

// repeatReader yields n bytes of c, allocating nothing.
type repeatReader struct {
	c byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n)]
	for i := range p {
		p[i] = r.c
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// body is prefix, n bytes of c, then suffix, streamed.
func body(prefix string, c byte, n int64, suffix string) io.Reader {
	return io.MultiReader(strings.NewReader(prefix), &repeatReader{c: c, n: n}, strings.NewReader(suffix))
}

// allocated runs f and returns the bytes the whole process allocated meanwhile.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A single huge JSON token (string, number or run of white space) is refused while it
// streams: the API does not buffer it first (it used to hold a 200 MB string several times).
func TestJSONTokenBudget(t *testing.T) {
	e := newEnv(t, false)
	p := e.createProject("groups", 2, false)
	path := "/projects/" + p.ProjectID + "/clks"
	const huge = 64 << 20
	for name, b := range map[string]func() io.Reader{
		"string":      func() io.Reader { return body(`{"clks":["`, 'A', huge, `"]}`) },
		"number":      func() io.Reader { return body(`{"clks":[`, '1', huge, `]}`) },
		"white space": func() io.Reader { return body(`{"clks":[`, ' ', huge, `]}`) },
		"key":         func() io.Reader { return body(`{"`, 'k', huge, `":1}`) },
		"block id":    func() io.Reader { return body(`{"clknblocks":[["AAAAAAAAAAA=","`, 'b', huge, `"]]}`) },
	} {
		t.Run(name, func(t *testing.T) {
			var r response
			n := allocated(func() { r = e.do("POST", path, p.UpdateTokens[0], b()) })
			pr := requireProblem(t, r, http.StatusRequestEntityTooLarge, "max-json-token-bytes")
			require.Equal(t, "max-json-token-bytes", pr["limit"])
			require.Less(t, n, uint64(16<<20), "bytes allocated while refusing a %d-byte token", huge)
		})
	}
	// The upload can still be made with the token: the refusals handed it back.
	e.upload(p, 0, readFile(t, "binary/clks_128B_1k.json"))
}

func TestBlocksBudget(t *testing.T) {
	e := newEnv(t, false, withLimits(linkhttp.Limits{MaxBlocksPerRecord: 3, MaxBlockIDBytes: 8}))
	p := e.createProject("groups", 2, true)
	clk := clkStrings(t, readFile(t, "binary/clks_128B_1k.json"))[0]
	path := "/projects/" + p.ProjectID + "/clks"
	for name, tc := range map[string]struct {
		body   string
		status int
		detail string
	}{
		"blocks per record":       {`{"clknblocks":[["` + clk + `","a","b","c","d"]]}`, 413, "max-blocks-per-record"},
		"block id length":         {`{"clknblocks":[["` + clk + `","123456789"]]}`, 413, "max-block-id-bytes"},
		"blocks map per record":   {`{"encodings":["` + clk + `"],"blocks":{"0":["a","b","c","d"]}}`, 413, "max-blocks-per-record"},
		"row named twice":         {`{"encodings":["` + clk + `"],"blocks":{"0":["a","b","c"],"0":["d","e","f"]}}`, 400, "record 0 given twice"},
		"row beyond every upload": {`{"encodings":["` + clk + `"],"blocks":{"99999999999":["a"]}}`, 413, "max-upload-records"},
	} {
		t.Run(name, func(t *testing.T) {
			requireProblem(t, e.do("POST", path, p.UpdateTokens[0], tc.body), tc.status, tc.detail)
		})
	}
	e.upload(p, 0, []byte(`{"clknblocks":[["`+clk+`","a","b","12345678"]]}`))
}

// goroutinesBack waits until the process runs no more goroutines than baseline (+slack for the
// client's connection), failing after a while.
func goroutinesBack(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		http.DefaultClient.CloseIdleConnections()
		n := runtime.NumGoroutine()
		if n <= baseline+2 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, baseline %d:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tempFiles lists the blob store's unfinished writes.
func tempFiles(t *testing.T, dir string) []string {
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return err
	}))
	return out
}

// Rejected uploads leave nothing behind: {"blocks":…,"clknblocks":[]} used to start a second
// blob writer and abandon the first (a goroutine, a descriptor and a temp file per request,
// forever, since the 400 hands the token back).
func TestRejectedUploadsLeakNothing(t *testing.T) {
	e := newEnv(t, false)
	p := e.createProject("groups", 2, true)
	clk := clkStrings(t, readFile(t, "binary/clks_128B_1k.json"))[0]
	path := "/projects/" + p.ProjectID + "/clks"
	e.do("GET", "/status", "", nil)
	http.DefaultClient.CloseIdleConnections()
	baseline := runtime.NumGoroutine()
	bodies := []string{
		`{"blocks":{"0":["a"]},"clknblocks":[]}`,
		`{"blocks":{"0":["a"]},"clknblocks":[["` + clk + `","a"]]}`,
		`{"clknblocks":[["` + clk + `","a"]],"blocks":{"0":["a"]}}`,
		`{"encodings":["` + clk + `"],"blocks":{"0":["a"]},"blocks":{"0":["a"]}}`,
		`{"clknblocks":[["` + clk + `","a"]],"clks":["` + clk + `"]}`,
	}
	for i := range 100 {
		r := e.do("POST", path, p.UpdateTokens[0], bodies[i%len(bodies)])
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	}
	goroutinesBack(t, baseline)
	require.Empty(t, tempFiles(t, e.dir))
	e.upload(p, 0, []byte(`{"clknblocks":[["`+clk+`","a"]]}`))
}

// A threshold far too low for the data (every pair a candidate) stops the chunk at its
// candidate budget and fails the run naming the limit, instead of holding every pair.
func TestRunStopsAtChunkCandidateBudget(t *testing.T) {
	e := newEnv(t, true, withWorkerConfig(func(c *worker.Config) { *c = fastWorkers; c.MaxChunkCandidates = 10_000 }))
	p := e.createProject("similarity_scores", 2, false)
	body := readFile(t, "binary/clks_128B_1k.json")
	e.upload(p, 0, body)
	e.upload(p, 1, body)
	run := e.createRun(p, 1e-9)
	st := e.wait(p, run)
	require.Equal(t, linkage.RunError, st.State, "%v", st)
	require.Contains(t, st.Message, "max-chunk-candidates")
	require.Contains(t, st.Message, "maximum 10000")
}

// externalBlobs serves every object-store reference as the same generated object.
type externalBlobs struct {
	*fs.Store
	object func() io.Reader
}

func (x externalBlobs) UploadAccess(context.Context, string) (linkage.Credentials, linkage.ObjectRef, error) {
	return linkage.Credentials{}, linkage.ObjectRef{}, fmt.Errorf("not in this test")
}

func (x externalBlobs) DownloadAccess(context.Context, string) (linkage.Credentials, linkage.ObjectRef, error) {
	return linkage.Credentials{}, linkage.ObjectRef{}, fmt.Errorf("not in this test")
}

func (x externalBlobs) OpenExternal(context.Context, linkage.ObjectRef, string) (*linkage.ExternalObject, error) {
	return &linkage.ExternalObject{ReadCloser: io.NopCloser(x.object())}, nil
}

// An object-store upload is copied under the limits of a direct one: bytes, records, CLK size,
// and the CLK size the other parties used.
func TestExternalCopyBudget(t *testing.T) {
	var object func() io.Reader
	e := newEnv(t, false, withLimits(linkhttp.Limits{MaxUploadBytes: 1 << 20, MaxUploadRecords: 10_000, MaxHashSize: 512}),
		func(c *linkhttp.Config, _ *worker.Config) {
			c.Blobs = externalBlobs{Store: c.Blobs.(*fs.Store), object: func() io.Reader { return object() }}
		})
	p := e.createProject("groups", 2, false)
	path := "/projects/" + p.ProjectID + "/clks"
	ref := `{"encodings":{"file":{"bucket":"b","path":"p"}}}`
	for name, tc := range map[string]struct {
		size   string
		bytes  int64
		status int
		detail string
	}{
		"CLK size":    {"1024", 1024 * 4, 413, "max-hash-size"},
		"upload size": {"128", 2 << 20, 413, "max-upload-bytes"},
		"records":     {"8", 10_001 * 8, 413, "max-upload-records"},
	} {
		t.Run(name, func(t *testing.T) {
			object = func() io.Reader { return &repeatReader{c: 0xff, n: tc.bytes} }
			pr := requireProblem(t, e.do("POST", path, p.UpdateTokens[0], ref, "Hash-Size", tc.size), tc.status, tc.detail)
			require.Equal(t, tc.detail, pr["limit"])
		})
	}
	require.Empty(t, tempFiles(t, e.dir))
	require.Empty(t, e.uploadBlobs(p.ProjectID))

	// Party 0 uploads 128-byte CLKs; party 1 may not copy 64-byte ones.
	object = func() io.Reader { return &repeatReader{c: 0xff, n: 128 * 10} }
	r := e.do("POST", path, p.UpdateTokens[0], ref, "Hash-Size", "128")
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	object = func() io.Reader { return &repeatReader{c: 0xff, n: 64 * 10} }
	requireProblem(t, e.do("POST", path, p.UpdateTokens[1], ref, "Hash-Size", "64"), 400, "differs from the 128-byte CLKs")
}

// startUpload opens a connection and sends the head and the first bytes of a JSON upload of
// length bytes, then nothing more.
func startUpload(t *testing.T, e *env, p project, party int, length int) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = fmt.Fprintf(c, "POST /api/v1/projects/%s/clks HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n{\"clks\":[",
		p.ProjectID, p.UpdateTokens[party], length)
	require.NoError(t, err)
	return c
}

// answer reads the status line and problem of the response on c.
func answer(t *testing.T, c net.Conn) (int, string) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "no answer to a stalled upload")
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A client that stops sending (or trickles) loses its upload with 408 instead of holding a
// goroutine, the token's claim and buffers for ever; the token can be used again.
func TestSlowUploadsTimeOut(t *testing.T) {
	e := newEnv(t, false, func(c *linkhttp.Config, _ *worker.Config) {
		// The idle timeout is 20 trickle periods (below) so that a starved
		// trickler under -race on a loaded machine cannot look idle.
		c.UploadIdleTimeout, c.UploadTimeout, c.BodyTimeout = 2*time.Second, 4*time.Second, time.Second
	})
	p := e.createProject("groups", 2, false)

	c := startUpload(t, e, p, 0, 1<<20)
	status, detail := answer(t, c)
	require.Equal(t, http.StatusRequestTimeout, status, detail)
	require.Contains(t, detail, "upload-idle-timeout")

	// Trickling one byte every 100 ms keeps it from being idle but not from the total.
	c = startUpload(t, e, p, 0, 1<<20)
	stop := make(chan struct{})
	go func(c net.Conn) { // c is reassigned below
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := c.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}(c)
	status, detail = answer(t, c)
	close(stop)
	require.Equal(t, http.StatusRequestTimeout, status, detail)
	require.Contains(t, detail, "upload-timeout")

	// Other bodies: --body-timeout.
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = fmt.Fprintf(c, "POST /api/v1/projects HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
	require.NoError(t, err)
	status, detail = answer(t, c)
	require.Equal(t, http.StatusRequestTimeout, status, detail)
	require.Contains(t, detail, "body-timeout")

	e.upload(p, 0, readFile(t, "binary/clks_128B_1k.json"))
}

// One client address runs at most max-uploads-per-client uploads at once.
func TestUploadsPerClient(t *testing.T) {
	e := newEnv(t, false, withLimits(linkhttp.Limits{MaxUploadsPerClient: 2}))
	p := e.createProject("groups", 3, false)
	var stalled []net.Conn
	for party := range 2 {
		stalled = append(stalled, startUpload(t, e, p, party, 1<<20))
		// The upload holds its slot once it has claimed the token.
		require.Eventually(t, func() bool {
			parties, err := e.store.ListParties(t.Context(), p.ProjectID)
			require.NoError(t, err)
			return parties[party].State == linkage.UploadUploading
		}, 10*time.Second, 5*time.Millisecond)
	}
	// A third is refused before its token is even checked (a wrong one here, spending nothing).
	r := e.do("POST", "/projects/"+p.ProjectID+"/clks", "wrong", `{"clks":[]}`)
	pr := requireProblem(t, r, http.StatusTooManyRequests, "max-uploads-per-client")
	require.Equal(t, "max-uploads-per-client", pr["limit"])
	require.NotEmpty(t, r.header.Get("Retry-After"))
	// Once they are gone (the clients closed the connections), the slots are free.
	for _, c := range stalled {
		c.Close()
	}
	for party := range 2 {
		require.Eventually(t, func() bool {
			parties, err := e.store.ListParties(t.Context(), p.ProjectID)
			require.NoError(t, err)
			return parties[party].State == linkage.UploadPending
		}, 10*time.Second, 5*time.Millisecond)
	}
	// (The slot is given back just after the claim: retry while the answer is 429.)
	require.Eventually(t, func() bool {
		r = e.do("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[2], readFile(t, "binary/clks_128B_1k.json"))
		return r.status != http.StatusTooManyRequests
	}, 10*time.Second, 5*time.Millisecond)
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
}

// countRuns counts the scans CountRuns makes.
type countRuns struct {
	linkage.Store
	n atomic.Int64
}

func (c *countRuns) CountRuns(ctx context.Context) (map[linkage.RunState]int, error) {
	c.n.Add(1)
	return c.Store.CountRuns(ctx)
}

// /metrics can be scraped in a flood: the runs are counted at most every few seconds and each
// client is limited (503 with Retry-After beyond the burst).
func TestMetricsFloodIsBounded(t *testing.T) {
	var store *countRuns
	e := newEnv(t, false, func(c *linkhttp.Config, _ *worker.Config) {
		store = &countRuns{Store: c.Store}
		c.Store = store
	})
	get := func() *http.Response {
		resp, err := http.Get(e.srv.URL + "/metrics")
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	var refused *http.Response
	ok := 0
	for range 50 {
		if resp := get(); resp.StatusCode == http.StatusOK {
			ok++
		} else {
			refused = resp
		}
	}
	require.NotNil(t, refused, "50 scrapes at once all answered")
	require.Equal(t, http.StatusServiceUnavailable, refused.StatusCode)
	require.NotEmpty(t, refused.Header.Get("Retry-After"))
	require.GreaterOrEqual(t, ok, 10, "the burst is answered")
	require.EqualValues(t, 1, store.n.Load(), "runs counted once for %d scrapes", ok)
}

// ambiguousCommit fails CompleteUpload: after committing (the answer to COMMIT was lost) when
// committed is true, before it otherwise.
type ambiguousCommit struct {
	linkage.Store
	committed bool
}

func (a *ambiguousCommit) CompleteUpload(ctx context.Context, u linkage.Party) ([]string, error) {
	if a.committed {
		if _, err := a.Store.CompleteUpload(ctx, u); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("commit: connection reset by peer")
}

// An error answering the upload's COMMIT is resolved by reading the party back: a recorded
// upload keeps its blob (it used to be deleted, losing accepted data) and is acknowledged; an
// unrecorded one is cleaned up and the token can be used again.
func TestAmbiguousUploadCommit(t *testing.T) {
	for _, committed := range []bool{true, false} {
		t.Run(fmt.Sprint("committed=", committed), func(t *testing.T) {
			var store *ambiguousCommit
			e := newEnv(t, true, func(c *linkhttp.Config, _ *worker.Config) {
				store = &ambiguousCommit{Store: c.Store, committed: committed}
				c.Store = store
			})
			p := e.createProject("groups", 2, false)
			body := readFile(t, "binary/clks_128B_1k.json")
			r := e.do("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[0], body)
			if !committed {
				require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
				require.Empty(t, e.uploadBlobs(p.ProjectID), "the unrecorded upload's blob is removed")
				store.committed = true // the database is back: the token still works
				r = e.do("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[0], body)
			}
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			require.Equal(t, []string{e.uploadKey(p.ProjectID, 0)}, e.uploadBlobs(p.ProjectID), "the recorded upload's blob is kept")
			require.NotEmpty(t, r.json(t)["receipt_token"])
			e.upload(p, 1, body)
			run := e.createRun(p, 0.99)
			require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)
		})
	}
}

// GET /projects is public: it pages (a Link header to the next page) instead of loading every
// project, and never reads their schema or notes.
func TestProjectListPages(t *testing.T) {
	e := newEnv(t, false)
	var ids []string
	for range 3 {
		ids = append(ids, e.createProject("groups", 2, false).ProjectID)
	}
	requirePages(t, e, "/projects", "", "project_id", ids)
}

// A project's runs (anyone may create a project and its runs) are listed in pages too.
func TestRunListPages(t *testing.T) {
	e := newEnv(t, false)
	p := e.createProject("groups", 2, false)
	var ids []string
	for range 3 {
		ids = append(ids, e.createRun(p, 0.9))
	}
	requirePages(t, e, "/projects/"+p.ProjectID+"/runs", p.ResultToken, "run_id", ids)
}

// requirePages checks the listing at path (whose entries name their id in field) holds ids, and
// its pages of 2: a Link to the next page after a full page, none after the last; a bad limit
// is a 400 naming it.
func requirePages(t *testing.T, e *env, path, token, field string, ids []string) {
	t.Helper()
	list := func(query string) ([]string, string) {
		r := e.do("GET", path+query, token, nil)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var items []map[string]any
		require.NoError(t, json.Unmarshal(r.body, &items))
		var out []string
		for _, it := range items {
			out = append(out, it[field].(string))
		}
		return out, r.header.Get("Link")
	}
	all, link := list("")
	require.ElementsMatch(t, ids, all)
	require.Empty(t, link, "one page")
	first, link := list("?limit=2")
	require.Equal(t, all[:2], first)
	require.Equal(t, `</api/v1`+path+`?after=`+all[1]+`&limit=2>; rel="next"`, link)
	rest, link := list("?limit=2&after=" + all[1])
	require.Equal(t, all[2:], rest)
	require.Empty(t, link)
	requireProblem(t, e.do("GET", path+"?limit=0", token, nil), http.StatusBadRequest, "limit")
	requireProblem(t, e.do("GET", path+"?limit=1001", token, nil), http.StatusBadRequest, "limit")
}
