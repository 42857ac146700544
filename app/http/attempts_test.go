package http_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/worker"
)

// agedClaims moves the clock of ClaimUpload forward by skew: claims taken before look stale.
type agedClaims struct {
	linkage.Store
	skew atomic.Int64
}

func (a *agedClaims) ClaimUpload(ctx context.Context, pid string, party int, now, staleBefore time.Time) (string, error) {
	d := time.Duration(a.skew.Load())
	return a.Store.ClaimUpload(ctx, pid, party, now.Add(d), staleBefore.Add(d))
}

// gates holds party 0's uploads reaching upload-half-written, each at its own gate, in arrival order:
// reached[i] closes when the i-th upload is there, and it goes on once open[i] closes.
type gates struct {
	reached, open []chan struct{}
	n             atomic.Int32
}

func newGates(n int) *gates {
	g := &gates{}
	for range n {
		g.reached, g.open = append(g.reached, make(chan struct{})), append(g.open, make(chan struct{}))
	}
	return g
}

func (g *gates) fault(ctx context.Context, point string, party int) error {
	if point != linkhttp.FaultUploadHalfWritten || party != 0 {
		return nil
	}
	i := int(g.n.Add(1)) - 1
	if i >= len(g.reached) {
		return nil
	}
	close(g.reached[i])
	select {
	case <-g.open[i]:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post sends an upload from another goroutine (no test assertions there).
func (e *env) post(path, token string, body []byte, header ...string) <-chan response {
	out := make(chan response, 1)
	go func() {
		req, err := http.NewRequest("POST", e.url+path, bytes.NewReader(body))
		if err != nil {
			out <- response{status: -1, body: []byte(err.Error())}
			return
		}
		req.Header.Set("Authorization", token)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- response{status: -1, body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		out <- response{status: resp.StatusCode, header: resp.Header, body: b}
	}()
	return out
}

// An upload attempt A stalls half written until its claim on the update token goes stale; the
// client's retry B (same token, other data) takes the claim over. Whichever of them ends first,
// B's upload is the one recorded, stored and linked, and A is refused with 409 without
// touching B's blob or record. Before claims had owners, A and B wrote the same blob key (the
// last writer won, whatever the database recorded) and A could record its own upload on B's
// claim.
func TestStalledUploadLosesToItsRetry(t *testing.T) {
	forms := map[string]struct {
		path   string
		binary bool
	}{"json": {"/clks", false}, "binary": {"/binaryclks", true}}
	for name, form := range forms {
		for _, retryFirst := range []bool{true, false} {
			order := "retry recorded first"
			if !retryFirst {
				order = "stalled attempt ends first"
			}
			t.Run(name+"/"+order, func(t *testing.T) {
				g := newGates(2)
				store := &agedClaims{}
				e := newEnv(t, true, func(c *linkhttp.Config, _ *worker.Config) {
					store.Store, c.Store = c.Store, store
					c.Fault = g.fault
				})
				p := e.createProject("groups", 2, false)
				stalled, retry, other := tutorial(t, 2), tutorial(t, 0), tutorial(t, 1)
				e.upload(p, 1, other)
				run := e.createRun(p, 0.8) // queued by whichever upload of party 0 is recorded
				path := "/projects/" + p.ProjectID + form.path
				send := func(data []byte) <-chan response {
					if !form.binary {
						return e.post(path, p.UpdateTokens[0], data)
					}
					body := binaryOf(t, data)
					return e.post(path, p.UpdateTokens[0], body, "Content-Type", "application/octet-stream",
						"Hash-Size", "128", "Hash-Count", strconv.Itoa(len(body)/128))
				}

				a := send(stalled)
				<-g.reached[0] // A holds the claim, half of its data in its blob
				store.skew.Store(int64(2 * time.Hour))
				if retryFirst {
					close(g.open[1])
				}
				b := send(retry)
				var ra, rb response
				if retryFirst {
					rb = <-b
					close(g.open[0])
					ra = <-a
				} else {
					<-g.reached[1] // B took the claim over and is half written too
					close(g.open[0])
					ra = <-a
					close(g.open[1])
					rb = <-b
				}
				require.Equal(t, http.StatusCreated, rb.status, "the retry: %s", rb.body)
				requireProblem(t, ra, http.StatusConflict, "the upload was not recorded")

				// B's data is the party's upload: in the record, in the blob, in the result.
				pa := e.party(p.ProjectID, 0)
				require.Equal(t, linkage.UploadDone, pa.State)
				require.EqualValues(t, len(clkStrings(t, retry)), pa.Records)
				require.Equal(t, linkage.HashToken(rb.json(t)["receipt_token"].(string)), pa.ReceiptTokenHash)
				rc, err := e.blobs.Get(t.Context(), e.uploadKey(p.ProjectID, 0))
				require.NoError(t, err)
				stored, err := io.ReadAll(rc)
				rc.Close()
				require.NoError(t, err)
				require.True(t, bytes.Equal(binaryOf(t, retry), stored), "the stored upload is the retry's data")
				require.ElementsMatch(t, []string{e.uploadKey(p.ProjectID, 0), e.uploadKey(p.ProjectID, 1)}, e.uploadBlobs(p.ProjectID),
					"the stalled attempt's blob is gone (no temporary file either)")

				st := e.wait(p, run)
				require.Equal(t, linkage.RunCompleted, st.State, "%+v", st)
				require.Equal(t, string(groupsJSON(t, expected(t, [][]byte{retry, other}, nil, 0.8))), string(e.result(p, run, p.ResultToken)))
			})
		}
	}
}

// lostOutcome fails the first CompleteUpload and the read-back after it, as when the database
// goes away in the middle of recording an upload: the outcome is unknown, so the attempt keeps
// its blob and its claim (it may have been recorded).
type lostOutcome struct {
	agedClaims
	failed, readBackFailed atomic.Bool
}

func (l *lostOutcome) CompleteUpload(ctx context.Context, u linkage.Party) ([]string, error) {
	if l.failed.CompareAndSwap(false, true) {
		return nil, errors.New("commit: connection reset by peer")
	}
	return l.agedClaims.CompleteUpload(ctx, u)
}

func (l *lostOutcome) ListParties(ctx context.Context, pid string) ([]linkage.Party, error) {
	if l.failed.Load() && l.readBackFailed.CompareAndSwap(false, true) {
		return nil, errors.New("read back: connection refused")
	}
	return l.agedClaims.ListParties(ctx, pid)
}

// An attempt whose upload was stored but whose outcome is unknown keeps its blob (it may have
// been recorded); once the database says it was not — its stale claim taken over by the retry,
// so it can never be recorded — the retry deletes that blob: it is not left behind for good.
func TestRetrySweepsTheReplacedAttempt(t *testing.T) {
	store := &lostOutcome{}
	e := newEnv(t, true, func(c *linkhttp.Config, _ *worker.Config) {
		store.Store, c.Store = c.Store, store
	})
	p := e.createProject("groups", 2, false)
	first, retry, other := tutorial(t, 2), tutorial(t, 0), tutorial(t, 1)
	r := e.do("POST", "/projects/"+p.ProjectID+"/clks", p.UpdateTokens[0], first)
	require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
	kept := e.uploadBlobs(p.ProjectID)
	require.Len(t, kept, 1, "the outcome is unknown: the blob is kept")
	require.Equal(t, linkage.UploadUploading, e.party(p.ProjectID, 0).State)

	store.skew.Store(int64(2 * time.Hour))
	e.upload(p, 0, retry)
	e.upload(p, 1, other)
	blobs := e.uploadBlobs(p.ProjectID)
	require.ElementsMatch(t, []string{e.uploadKey(p.ProjectID, 0), e.uploadKey(p.ProjectID, 1)}, blobs)
	require.NotContains(t, blobs, kept[0], "the replaced attempt's blob is gone")
	run := e.createRun(p, 0.8)
	require.Equal(t, linkage.RunCompleted, e.wait(p, run).State)
	require.Equal(t, string(groupsJSON(t, expected(t, [][]byte{retry, other}, nil, 0.8))), string(e.result(p, run, p.ResultToken)))
}
