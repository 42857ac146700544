package client_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
	"github.com/linkage-platform/linkage/app/fs"
	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/memqueue"
	"github.com/linkage-platform/linkage/app/sqlite"
	"github.com/linkage-platform/linkage/app/worker"
)

// serve runs the API over SQLite and local files; with workers, runs are computed.
func serve(t *testing.T, workers bool) (*client.Client, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "linkage.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	_, err = store.Migrate(context.Background())
	require.NoError(t, err)
	blobs, err := fs.New(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	queue := memqueue.New(memqueue.Options{Logger: log})
	srv := httptest.NewServer(linkhttp.New(linkhttp.Config{
		Store: store, Blobs: blobs, Scheduler: worker.Scheduler{Queue: queue}, Logger: log, Version: "client-test",
	}))
	t.Cleanup(srv.Close)
	if workers {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		w := worker.New(store, blobs, queue, log, nil, worker.Config{})
		go func() { defer close(done); _ = w.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return client.New(srv.URL+"/", nil), srv.URL // a trailing slash is trimmed
}

// Hand-computed fixture: 8-byte CLKs a = ff×8 (64 bits), b = 0f×8 (32), c = f0×8 (32),
// d = 01 then zeros (1). Party 0 is [a, b, c], party 1 is [b, a, d]. Dice: a·a = b·b = 1,
// a·b = a·c = 2·32/96 = 2/3, b·d = 2/33, a·d = 2/65, c·b = c·d = 0.
var (
	clkA   = bytes.Repeat([]byte{0xff}, 8)
	clkB   = bytes.Repeat([]byte{0x0f}, 8)
	clkC   = bytes.Repeat([]byte{0xf0}, 8)
	clkD   = []byte{1, 0, 0, 0, 0, 0, 0, 0}
	party0 = []string{b64(clkA), b64(clkB), b64(clkC)}
	party1 = slices.Concat(clkB, clkA, clkD) // uploaded as binary
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// linked creates a project of type rt, uploads both parties (JSON and binary), runs it at
// threshold and waits for it to complete.
func linked(t *testing.T, c *client.Client, rt linkage.ResultType, threshold float64) (client.Project, [2]client.Receipt, string) {
	t.Helper()
	ctx := t.Context()
	p, err := c.CreateProject(ctx, client.NewProject{ResultType: rt, Name: "client test"})
	require.NoError(t, err)
	require.Len(t, p.UpdateTokens, 2)
	var receipts [2]client.Receipt
	receipts[0], err = c.UploadCLKs(ctx, p.ProjectID, p.UpdateTokens[0], party0)
	require.NoError(t, err)
	receipts[1], err = c.UploadBinary(ctx, p.ProjectID, p.UpdateTokens[1], 3, 8, bytes.NewReader(party1))
	require.NoError(t, err)
	require.NotEmpty(t, receipts[0].ReceiptToken)
	require.NotEmpty(t, receipts[1].ReceiptToken)
	run, err := c.CreateRun(ctx, p.ProjectID, p.ResultToken, client.NewRun{Threshold: threshold, Name: "r"})
	require.NoError(t, err)
	require.Equal(t, threshold, run.Threshold)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := c.WaitRun(wctx, p.ProjectID, run.RunID, p.ResultToken, 10*time.Millisecond)
	require.NoError(t, err)
	require.Equal(t, linkage.RunCompleted, st.State, "%+v", st)
	return p, receipts, run.RunID
}

func TestSimilarityScores(t *testing.T) {
	c, _ := serve(t, true)
	p, _, rid := linked(t, c, linkage.ResultSimilarityScores, 0.6)
	got, err := c.SimilarityScores(t.Context(), p.ProjectID, rid, p.ResultToken)
	require.NoError(t, err)
	r := func(party, row int) client.Record { return client.Record{Party: party, Row: row} }
	want := []client.Score{
		{r(0, 0), r(1, 1), 1}, {r(0, 1), r(1, 0), 1},
		{r(0, 0), r(1, 0), 2.0 / 3}, {r(0, 1), r(1, 1), 2.0 / 3}, {r(0, 2), r(1, 1), 2.0 / 3},
	}
	require.ElementsMatch(t, want, got)
}

func TestGroups(t *testing.T) {
	c, _ := serve(t, true)
	p, _, rid := linked(t, c, linkage.ResultGroups, 0.6)
	got, err := c.Groups(t.Context(), p.ProjectID, rid, p.ResultToken)
	require.NoError(t, err)
	// The 1.0 pairs group first; every 2/3 pair then joins groups whose cross product it does not
	// complete, and c's only partner a is taken.
	r := func(party, row int) client.Record { return client.Record{Party: party, Row: row} }
	want := [][]client.Record{{r(0, 0), r(1, 1)}, {r(0, 1), r(1, 0)}}
	for _, g := range got {
		slices.SortFunc(g, func(x, y client.Record) int { return x.Party - y.Party })
	}
	require.ElementsMatch(t, want, got)

	runs, err := c.Runs(t.Context(), p.ProjectID, p.ResultToken)
	require.NoError(t, err)
	require.Equal(t, []string{rid}, []string{runs[0].RunID})
	run, err := c.Run(t.Context(), p.ProjectID, rid, p.ResultToken)
	require.NoError(t, err)
	require.Equal(t, linkage.RunCompleted, run.State)
	desc, err := c.Project(t.Context(), p.ProjectID, p.ResultToken)
	require.NoError(t, err)
	require.Equal(t, 2, desc.PartiesContributed)
	require.Equal(t, linkage.ResultGroups, desc.ResultType)

	require.NoError(t, c.DeleteRun(t.Context(), p.ProjectID, rid, p.ResultToken))
	_, err = c.Run(t.Context(), p.ProjectID, rid, p.ResultToken)
	require.Equal(t, http.StatusForbidden, client.StatusOf(err))
}

func TestPermutations(t *testing.T) {
	c, _ := serve(t, true)
	p, receipts, rid := linked(t, c, linkage.ResultPermutations, 0.9)
	mask, err := c.Mask(t.Context(), p.ProjectID, rid, p.ResultToken)
	require.NoError(t, err)
	var perms [2]client.Permutation
	for i, r := range receipts {
		perms[i], err = c.Permutation(t.Context(), p.ProjectID, rid, r.ReceiptToken)
		require.NoError(t, err)
		require.Equal(t, 3, perms[i].Rows)
		require.ElementsMatch(t, []int{0, 1, 2}, perms[i].Permutation)
	}
	// The matches are a–a (0,0)~(1,1) and b–b (0,1)~(1,0): each pair shares a row, masked 1; the
	// third row is 0.
	p0, p1 := perms[0].Permutation, perms[1].Permutation
	require.Equal(t, p0[0], p1[1])
	require.Equal(t, p0[1], p1[0])
	want := []int{0, 0, 0}
	want[p0[0]], want[p0[1]] = 1, 1
	require.Equal(t, want, mask)
}

func TestProblems(t *testing.T) {
	c, url := serve(t, false)
	ctx := t.Context()
	p, err := c.CreateProject(ctx, client.NewProject{ResultType: linkage.ResultGroups})
	require.NoError(t, err)

	_, err = c.Project(ctx, p.ProjectID, "wrong")
	pe, ok := err.(*client.ProblemError)
	require.True(t, ok, "%T %v", err, err)
	require.Equal(t, http.StatusForbidden, pe.Status)
	require.Equal(t, http.StatusForbidden, pe.Problem.Status)
	require.Equal(t, "Forbidden", pe.Problem.Title)
	require.Equal(t, "GET", pe.Method)

	_, err = c.CreateRun(ctx, p.ProjectID, p.ResultToken, client.NewRun{Threshold: 1.5})
	require.Equal(t, http.StatusBadRequest, client.StatusOf(err))
	require.ErrorContains(t, err, "threshold")

	_, err = c.AuthorizeExternalUpload(ctx, p.ProjectID, p.UpdateTokens[0])
	require.Equal(t, http.StatusInternalServerError, client.StatusOf(err), "api.md: 500 when the feature is disabled")

	_, err = c.UploadBinary(ctx, p.ProjectID, p.UpdateTokens[0], 3, 8, bytes.NewReader(party1[:16]))
	require.Error(t, err, "a body shorter than Hash-Count × Hash-Size is not sent")

	// No workers: the run stays queued and its result is not ready.
	for i, tok := range p.UpdateTokens {
		_, err := c.UploadBinary(ctx, p.ProjectID, tok, 3, 8, bytes.NewReader(party1))
		require.NoError(t, err, "party %d", i)
	}
	run, err := c.CreateRun(ctx, p.ProjectID, p.ResultToken, client.NewRun{Threshold: 0.8})
	require.NoError(t, err)
	_, err = c.Groups(ctx, p.ProjectID, run.RunID, p.ResultToken)
	require.Equal(t, http.StatusNotFound, client.StatusOf(err))
	// WaitRun ends with the context and reports the last status it saw: the context is
	// cancelled once the second status answer arrived.
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	answers := 0
	hc := &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if answers++; answers == 2 {
			cancel()
		}
		return resp, err
	})}
	st, err := client.New(url, hc).WaitRun(waitCtx, p.ProjectID, run.RunID, p.ResultToken, time.Millisecond)
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, linkage.RunQueued, st.State)
	require.GreaterOrEqual(t, answers, 2)

	status, err := c.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, client.Status{Status: "ok", ProjectCount: 1}, status)
	v, err := c.Version(ctx)
	require.NoError(t, err)
	require.Equal(t, "client-test", v.EntityService)
	list, err := c.Projects(ctx)
	require.NoError(t, err)
	require.Equal(t, p.ProjectID, list[0].ProjectID)

	require.NoError(t, c.DeleteProject(ctx, p.ProjectID, p.ResultToken))
	err = c.DeleteProject(ctx, p.ProjectID, p.ResultToken)
	require.Equal(t, http.StatusForbidden, client.StatusOf(err))
}

// A body that is not a problem object is kept as it came.
func TestNonProblemAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "upstream down\n")
	}))
	defer srv.Close()
	_, err := client.New(srv.URL, nil).Status(t.Context())
	pe, ok := err.(*client.ProblemError)
	require.True(t, ok, "%T %v", err, err)
	require.Equal(t, http.StatusBadGateway, pe.Status)
	require.Equal(t, 7*time.Second, pe.RetryAfter)
	require.Equal(t, "GET /status: status 502: upstream down", pe.Error())
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Listings follow the service's Link rel="next" pages to the end.
func TestListingsFollowPages(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RequestURI())
		after := r.URL.Query().Get("after")
		next := map[string]string{"": "b", "b": "d"}[after]
		if next != "" {
			w.Header().Set("Link", fmt.Sprintf(`<%s?after=%s&limit=2>; rel="next"`, r.URL.Path, next))
		}
		page := map[string]string{"": `[{"run_id":"a","state":"completed"},{"run_id":"b","state":"queued"}]`,
			"b": `[{"run_id":"c","state":"running"},{"run_id":"d","state":"error"}]`,
			"d": `[{"run_id":"e","state":"created"}]`}[after]
		_, _ = io.WriteString(w, page)
	}))
	defer srv.Close()
	runs, err := client.New(srv.URL, nil).Runs(t.Context(), "p1", "tok")
	require.NoError(t, err)
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.RunID)
	}
	require.Equal(t, []string{"a", "b", "c", "d", "e"}, ids)
	require.Equal(t, []string{"/api/v1/projects/p1/runs", "/api/v1/projects/p1/runs?after=b&limit=2",
		"/api/v1/projects/p1/runs?after=d&limit=2"}, asked)
}
