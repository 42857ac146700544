package worker_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/worker"
)

// 230 × 170 comparisons in chunks of about 3000: 5 × 4 tiles of 54 × 55 rows.
const (
	windowTarget = 3000
	windowChunks = 20
)

// TestWindowBoundsOpenChunks: a run of 20 chunks with a window of 3 never has more than 3
// chunks planned and not done (rows in the store, seen at every chunk), and finds exactly the
// pairs that Dice puts at or above the threshold, pair by pair over the whole uploads.
func TestWindowBoundsOpenChunks(t *testing.T) {
	data := parties(t)
	const threshold, window = 0.6, 3
	f := newFixture(t, threshold, data)
	var mu sync.Mutex
	seen, widest := 0, 0
	cfg := worker.Config{ChunkComparisons: windowTarget, ChunkWindow: window, Concurrency: 2,
		Fault: func(ctx context.Context, point string, _ int) error {
			if point != worker.FaultChunkCompared {
				return nil
			}
			open, err := f.store.ListChunks(ctx, f.rid)
			if err != nil {
				return err
			}
			r, err := f.store.GetRun(ctx, f.pid, f.rid)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			seen++
			widest = max(widest, len(open), r.ChunksPlanned-r.ChunksDone)
			return nil
		}}
	f.complete(t, cfg)
	mu.Lock()
	defer mu.Unlock()
	require.GreaterOrEqual(t, seen, windowChunks, "every chunk compared")
	require.Positive(t, widest)
	require.LessOrEqual(t, widest, window, "open chunks beyond the window")
	r, err := f.store.GetRun(t.Context(), f.pid, f.rid)
	require.NoError(t, err)
	require.Equal(t, [3]int{windowChunks, windowChunks, windowChunks}, [3]int{r.Chunks, r.ChunksPlanned, r.ChunksDone})
	require.EqualValues(t, 230*170, r.Progress)
	require.ElementsMatch(t, pairwise(t, data, threshold), scores(t, f))
}

// recorder is a queue that only records: the test hands its tasks to the worker one by one.
type recorder struct{ tasks []linkage.Task }

func (q *recorder) Enqueue(_ context.Context, t linkage.Task) error {
	q.tasks = append(q.tasks, t)
	return nil
}

func (q *recorder) Consume(ctx context.Context, _ int, _ func(context.Context, linkage.Task) error) error {
	<-ctx.Done()
	return nil
}

func (q *recorder) take() linkage.Task {
	t := q.tasks[0]
	q.tasks = q.tasks[1:]
	return t
}

// TestPlanningResumesAfterCrash: a worker dies after recording a chunk done and before
// planning the next (its task is lost too); the reconciler plans and enqueues it, and the run
// completes with every pair.
func TestPlanningResumesAfterCrash(t *testing.T) {
	data := parties(t)
	const threshold, window = 0.6, 2
	f := newFixture(t, threshold, data)
	ctx := t.Context()
	crash := errors.New("killed")
	crashed := false
	q := &recorder{}
	w := worker.New(f.store, f.blobs, q, slog.New(slog.DiscardHandler), nil, worker.Config{
		ChunkComparisons: windowTarget, ChunkWindow: window,
		Fault: func(_ context.Context, point string, _ int) error {
			if point == worker.FaultChunkDone && !crashed {
				crashed = true
				return crash
			}
			return nil
		}})
	require.NoError(t, worker.Scheduler{Queue: q}.RunQueued(ctx, f.pid, f.rid))
	require.NoError(t, w.Handle(ctx, q.take()))
	require.Len(t, q.tasks, window, "the start enqueues the first window")
	require.ErrorIs(t, w.Handle(ctx, q.take()), crash)
	q.tasks = nil // the crashed worker's queue entries are gone with it

	r, err := f.store.GetRun(ctx, f.pid, f.rid)
	require.NoError(t, err)
	require.Equal(t, [2]int{window, 1}, [2]int{r.ChunksPlanned, r.ChunksDone}, "planned, done")

	require.NoError(t, w.Reconcile(ctx))
	r, err = f.store.GetRun(ctx, f.pid, f.rid)
	require.NoError(t, err)
	require.Equal(t, window+1, r.ChunksPlanned, "the reconciler planned the next chunk")
	var enqueued []string
	for _, tk := range q.tasks {
		enqueued = append(enqueued, tk.ID)
	}
	require.ElementsMatch(t, []string{"run.chunk:" + f.rid + ":1", "run.chunk:" + f.rid + ":2"}, enqueued)

	for len(q.tasks) > 0 {
		require.NoError(t, w.Handle(ctx, q.take()))
	}
	f.waitCompleted(t)
	require.ElementsMatch(t, pairwise(t, data, threshold), scores(t, f))
}
