package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/fs"
	"github.com/linkage-platform/linkage/app/histogram"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/memqueue"
	"github.com/linkage-platform/linkage/app/sqlite"
	"github.com/linkage-platform/linkage/app/worker"
)

// parties returns two parties of random 16-byte CLKs, party 1 holding noisy copies of party 0's
// records so that many pairs score high.
func parties(t *testing.T) [2][]byte {
	rng := rand.New(rand.NewPCG(16, 1))
	const size = 16
	a := make([]byte, 230*size)
	for i := range a {
		a[i] = byte(rng.Uint32() & rng.Uint32()) // about 1/4 of the bits set
	}
	b := make([]byte, 0, 170*size)
	for range 170 {
		r := rng.IntN(230)
		rec := bytes.Clone(a[r*size : (r+1)*size])
		rec[rng.IntN(size)] ^= byte(1 << rng.IntN(8))
		b = append(b, rec...)
	}
	return [2][]byte{a, b}
}

// fixture is a similarity_scores project of two uploaded parties and a queued run on real
// embedded backends.
type fixture struct {
	store    *sqlite.DB
	path     string // the SQLite file
	blobs    *fs.Store
	read     linkage.BlobStore // the workers' view of blobs (default blobs)
	pid, rid string
}

func newFixture(t *testing.T, threshold float64, data [2][]byte) *fixture {
	t.Helper()
	return newBlockedFixture(t, threshold, data, [2][][]string{})
}

// newBlockedFixture is newFixture for a blocking project when blocks holds each party's blocks
// per record.
func newBlockedFixture(t *testing.T, threshold float64, data [2][]byte, blocks [2][][]string) *fixture {
	t.Helper()
	blocking := blocks[0] != nil
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	store, err := sqlite.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	_, err = store.Migrate(ctx)
	require.NoError(t, err)
	blobs, err := fs.New(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	p := &linkage.Project{ID: linkage.NewID(), Schema: []byte(`{}`), ResultType: linkage.ResultSimilarityScores,
		NumberParties: 2, UsesBlocking: blocking, ResultTokenHash: linkage.HashToken("r")}
	require.NoError(t, store.CreateProject(ctx, p, []linkage.Party{{Index: 0, UpdateTokenHash: []byte("a")}, {Index: 1, UpdateTokenHash: []byte("b")}}))
	for i, d := range data {
		attempt, err := store.ClaimUpload(ctx, p.ID, i, time.Now(), time.Now())
		require.NoError(t, err)
		_, err = blobs.Put(ctx, linkage.UploadKey(p.ID, i, attempt), bytes.NewReader(d))
		require.NoError(t, err)
		if blocking {
			var buf bytes.Buffer
			bw := linkage.NewBlocksWriter(&buf)
			for row, b := range blocks[i] {
				require.NoError(t, bw.Write(int64(row), b))
			}
			require.NoError(t, bw.Flush())
			_, err = blobs.Put(ctx, linkage.BlocksKey(p.ID, i, attempt), &buf)
			require.NoError(t, err)
		}
		_, err = store.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: i, Records: int64(len(d) / 16), HashSize: 16, HasBlocks: blocking, Attempt: attempt})
		require.NoError(t, err)
	}
	run := &linkage.Run{ID: linkage.NewID(), ProjectID: p.ID, Threshold: threshold, CreatedAt: time.Now()}
	require.NoError(t, store.CreateRun(ctx, run))
	require.Equal(t, linkage.RunQueued, run.State)
	return &fixture{store: store, path: path, blobs: blobs, pid: p.ID, rid: run.ID}
}

// complete runs the fixture's run with cfg through an in-process queue until it completes (or
// ends in the state given).
func (f *fixture) complete(t *testing.T, cfg worker.Config, state ...linkage.RunState) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	queue := memqueue.New(memqueue.Options{Logger: log})
	var blobs linkage.BlobStore = f.blobs
	if f.read != nil {
		blobs = f.read
	}
	w := worker.New(f.store, blobs, queue, log, nil, cfg)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.NoError(t, worker.Scheduler{Queue: queue}.RunQueued(ctx, f.pid, f.rid))
	f.waitCompleted(t, state...)
}

func (f *fixture) waitCompleted(t *testing.T, state ...linkage.RunState) {
	t.Helper()
	want := linkage.RunCompleted
	if len(state) > 0 {
		want = state[0]
	}
	require.Eventually(t, func() bool {
		r, err := f.store.GetRun(t.Context(), f.pid, f.rid)
		require.NoError(t, err)
		if r.State.Terminal() {
			require.Equal(t, want, r.State, r.Message)
		}
		return r.State == want
	}, time.Minute, 10*time.Millisecond)
}

// linked runs the two parties' similarity_scores project with cfg and returns it completed.
func linked(t *testing.T, cfg worker.Config, threshold float64, data [2][]byte) *fixture {
	f := newFixture(t, threshold, data)
	f.complete(t, cfg)
	return f
}

// resultAttempt is the solve attempt whose blobs the completed run serves.
func (f *fixture) resultAttempt(t *testing.T) string {
	r, err := f.store.GetRun(t.Context(), f.pid, f.rid)
	require.NoError(t, err)
	require.NotEmpty(t, r.ResultAttempt, "a run completed now records its solve attempt")
	return r.ResultAttempt
}

// scores reads a completed similarity_scores run's result.
func scores(t *testing.T, f *fixture) []client.Score {
	rc, err := f.blobs.Get(t.Context(), linkage.ResultKey(f.pid, f.rid, f.resultAttempt(t), linkage.PartResult))
	require.NoError(t, err)
	defer rc.Close()
	var got struct {
		Scores []client.Score `json:"similarity_scores"`
	}
	require.NoError(t, json.NewDecoder(rc).Decode(&got))
	return got.Scores
}

// pairwise is every pair Dice puts at or above the threshold, computed pair by pair.
func pairwise(t *testing.T, data [2][]byte, threshold float64) []client.Score {
	a, b := clks(t, data[0]), clks(t, data[1])
	var want []client.Score
	for i := range a.Len() {
		for j := range b.Len() {
			if s := engine.Dice(a, i, b, j); s >= threshold {
				want = append(want, client.Score{A: client.Record{Party: 0, Row: i}, B: client.Record{Party: 1, Row: j}, Score: s})
			}
		}
	}
	require.GreaterOrEqual(t, len(want), 170, "every copy of a record at least")
	return want
}

func clks(t *testing.T, d []byte) *engine.CLKs {
	c, err := engine.New(d, 16)
	require.NoError(t, err)
	return c
}

// TestChunkedRunFindsEveryPair: a run split into many chunks (rows read from the middle of the
// uploads) finds exactly the pairs that Dice, pair by pair over the whole uploads, puts at or
// above the threshold, with their absolute rows.
func TestChunkedRunFindsEveryPair(t *testing.T) {
	data := parties(t)
	const threshold = 0.6
	f := linked(t, worker.Config{ChunkComparisons: 3000, Concurrency: 2}, threshold, data)
	require.ElementsMatch(t, pairwise(t, data, threshold), scores(t, f))

	// The chunks' blobs are removed once the run is solved (just after it is marked completed).
	requireGone(t, f.blobs, linkage.ChunkKey(f.pid, f.rid, 0))
}

// TestChunkedHistogramIsTheWholeRuns: the histogram merged from many chunks, sampling every
// row (stride 1), counts every pair of the run into the bin of its score.
func TestChunkedHistogramIsTheWholeRuns(t *testing.T) {
	data := parties(t)
	cfg := worker.Config{ChunkComparisons: 3000, Concurrency: 2,
		Histogram: worker.HistogramConfig{Floor: 0.2, Bins: 40, SamplePairs: 1 << 30}}
	f := linked(t, cfg, 0.7, data)
	rc, err := f.blobs.Get(t.Context(), linkage.HistogramKey(f.pid, f.rid, f.resultAttempt(t)))
	require.NoError(t, err)
	defer rc.Close()
	var got histogram.Histogram
	require.NoError(t, json.NewDecoder(rc).Decode(&got))

	want, err := histogram.New(0.2, 40, 1, 0.7)
	require.NoError(t, err)
	a, b := clks(t, data[0]), clks(t, data[1])
	for i := range a.Len() {
		for j := range b.Len() {
			want.AddExact(engine.Dice(a, i, b, j))
		}
	}
	require.Equal(t, 1, got.Stride)
	require.EqualValues(t, a.Len()*b.Len(), got.Compared, "every pair compared once")
	for i := range want.Bins {
		require.Equal(t, want.Exact[i], got.Count(i), "bin %d", i)
	}
	requireGone(t, f.blobs, linkage.ChunkHistogramKey(f.pid, f.rid, 0)) // removed with the chunks
}

// requireGone waits until the blob key is deleted.
func requireGone(t *testing.T, blobs *fs.Store, key string) {
	t.Helper()
	require.Eventually(t, func() bool {
		rc, err := blobs.Get(t.Context(), key)
		if err == nil {
			rc.Close()
		}
		return errors.Is(err, linkage.ErrNotFound)
	}, 10*time.Second, 5*time.Millisecond, "%s is still there", key)
}
