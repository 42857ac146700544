// Package worker orchestrates runs: it splits a run into chunks of comparisons, computes each
// chunk with app/engine, merges the chunks' candidates, solves them into the project's result
// type and writes the result to the blob store. Work travels as queue tasks; the database is the
// source of truth, and a periodic reconciler re-enqueues the missing work of unfinished runs, so
// that a crash between a database write and a queue write, or a restart, loses nothing.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkage-platform/linkage/app/histogram"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/periodic"
	"github.com/linkage-platform/linkage/app/rate"
	"github.com/linkage-platform/linkage/app/tracing"
)

// Task kinds.
const (
	KindStart = "run.start"
	KindChunk = "run.chunk"
	KindSolve = "run.solve"
)

// payload is the JSON of every task: ids and a chunk index, never data.
type payload struct {
	ProjectID string `json:"project_id"`
	RunID     string `json:"run_id"`
	Chunk     int    `json:"chunk,omitempty"`
}

func task(kind, projectID, runID string, chunk int) linkage.Task {
	id := kind + ":" + runID
	if kind == KindChunk {
		id += ":" + strconv.Itoa(chunk)
	}
	b, _ := json.Marshal(payload{ProjectID: projectID, RunID: runID, Chunk: chunk}) // cannot fail
	return linkage.Task{ID: id, Kind: kind, Payload: b}
}

// Scheduler hands queued runs to the workers; the API uses it when a run becomes queued.
type Scheduler struct {
	Queue linkage.Queue
}

// RunQueued enqueues the start of a run. A failure is not fatal: the reconciler retries.
func (s Scheduler) RunQueued(ctx context.Context, projectID, runID string) error {
	if err := s.Queue.Enqueue(ctx, task(KindStart, projectID, runID, 0)); err != nil {
		return fmt.Errorf("enqueue start of run %s: %w", runID, err)
	}
	return nil
}

// Config tunes the workers.
type Config struct {
	// Concurrency is the number of tasks run at once (default GOMAXPROCS).
	Concurrency int
	// CompareWorkers is the number of goroutines the engine uses per chunk (default GOMAXPROCS).
	CompareWorkers int
	// ChunkComparisons is the target size of a chunk in comparisons (default 200M, ~1–3 s).
	ChunkComparisons int64
	// ChunkWindow bounds the chunks of a run planned and not done, i.e. its chunk rows and
	// queue entries (default 1000): a run's chunks are planned as earlier ones finish.
	ChunkWindow int
	// MaxAttempts bounds the attempts at one chunk or at solving before the run fails (default 5).
	MaxAttempts int
	// MaxSolverPairs bounds the candidate pairs of groups and permutations results
	// (default 100M); MaxScorePairs those of similarity_scores results (default 500M).
	MaxSolverPairs int64
	MaxScorePairs  int64
	// EstimateComparisons is about how many pairs a run compares when it starts to estimate its
	// candidate pairs against MaxSolverPairs / MaxScorePairs (default 16M: well under a second).
	EstimateComparisons int64
	// MaxChunkCandidates bounds the candidate pairs one chunk may hold (default 5M, about
	// 240 MB at the peak of a chunk): a chunk that finds more stops and the run fails.
	MaxChunkCandidates int64
	// ReconcileInterval is how often unfinished runs are checked for missing work (default 15s).
	ReconcileInterval time.Duration
	// ProgressInterval is how often a chunk's progress is written (default 1s).
	ProgressInterval time.Duration
	// ShutdownGrace is how long running tasks may continue after shutdown begins before they
	// are cancelled and handed back (default 30s; spot nodes give two minutes' notice).
	ShutdownGrace time.Duration
	// Histogram sets the score histogram recorded with each run (off when Floor is 0).
	Histogram HistogramConfig
	// Fault, when set, is called at each fault point (FaultChunkCompared and FaultChunkDone with
	// the chunk index, FaultResultWrite with the number of result parts stored, FaultSolveStarted,
	// FaultStartCommitted): fault tests block a worker there, or make the step fail with the
	// error returned, instead of relying on timing.
	Fault func(ctx context.Context, point string, index int) error
}

// Fault points.
const (
	FaultStartCommitted = "start-committed" // the run's chunks are in the database, not yet enqueued
	FaultChunkCompared  = "chunk-compared"  // a chunk's candidates are computed, not yet stored
	FaultChunkDone      = "chunk-done"      // a chunk (not the last) is recorded done, the next not yet planned
	FaultSolveStarted   = "solve-started"   // the solve attempt is counted, nothing written
	FaultResultWrite    = "result-write"    // a part of the result is stored, the run not yet completed
)

// FaultPoints are the fault points in the order a run passes them.
var FaultPoints = []string{FaultStartCommitted, FaultChunkCompared, FaultChunkDone, FaultSolveStarted, FaultResultWrite}

func (w *Worker) fault(ctx context.Context, point string, index int) error {
	if w.cfg.Fault == nil {
		return nil
	}
	w.log.InfoContext(ctx, "fault point reached", "point", point, "index", index)
	return w.cfg.Fault(ctx, point, index)
}

// settle ends an attempt at a task that returned *err. A task cut short by this worker's
// shutdown gives its attempt back (the queue hands it to another worker): only failures count
// against MaxAttempts. A failure records its cause, named once the attempts are exhausted.
func (w *Worker) settle(ctx context.Context, err *error, what string, giveBack func(context.Context) error,
	record func(ctx context.Context, cause string) error) {
	if *err == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if ctx.Err() != nil && w.stopping.Load() {
		if gerr := giveBack(sctx); gerr != nil {
			w.log.Warn("give back the attempt of a handed-back task", "what", what, "err", gerr)
		}
		return
	}
	if rerr := record(sctx, (*err).Error()); rerr != nil {
		w.log.Warn("record the cause of a failed attempt", "what", what, "err", rerr)
	}
}

// exhausted is the run's error message once a task failed every attempt: msg and the last cause.
func exhausted(msg, lastErr string) string {
	if lastErr == "" {
		return msg
	}
	return msg + "; last error: " + lastErr
}

func (c *Config) defaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = runtime.GOMAXPROCS(0)
	}
	if c.ChunkComparisons <= 0 {
		c.ChunkComparisons = 200_000_000
	}
	if c.ChunkWindow <= 0 {
		c.ChunkWindow = 1000
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.MaxSolverPairs <= 0 {
		c.MaxSolverPairs = 100_000_000
	}
	if c.MaxScorePairs <= 0 {
		c.MaxScorePairs = 500_000_000
	}
	if c.EstimateComparisons <= 0 {
		c.EstimateComparisons = 16_000_000
	}
	if c.MaxChunkCandidates <= 0 {
		c.MaxChunkCandidates = 5_000_000
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = 15 * time.Second
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = time.Second
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	if c.Histogram.Bins <= 0 {
		c.Histogram.Bins = histogram.DefaultBins
	}
	if c.Histogram.SamplePairs <= 0 {
		c.Histogram.SamplePairs = 1_000_000
	}
}

// Worker consumes run tasks.
type Worker struct {
	store   linkage.Store
	blobs   linkage.BlobStore
	queue   linkage.Queue
	log     *slog.Logger
	cfg     Config
	metrics *metrics
	rate    *rate.Meter
	now     func() time.Time
	// stopping is set when shutdown begins: tasks cancelled from then on are hand-backs.
	stopping atomic.Bool
	// blocksIndexes holds the index of each blocks blob read (blobs of done uploads never
	// change); a nil index: the blob's rows do not ascend.
	blocksMu      sync.Mutex
	blocksIndexes map[string]*linkage.BlocksIndex
}

// New returns a worker; reg (may be nil) receives its metrics.
func New(store linkage.Store, blobs linkage.BlobStore, queue linkage.Queue, log *slog.Logger, reg prometheus.Registerer, cfg Config) *Worker {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	return &Worker{
		store: store, blobs: blobs, queue: queue, log: log, cfg: cfg,
		metrics: newMetrics(reg), rate: rate.NewMeter(time.Minute), now: time.Now,
		blocksIndexes: map[string]*linkage.BlocksIndex{},
	}
}

// Rate is the comparisons per second over the last minute in this process.
func (w *Worker) Rate() float64 { return w.rate.Rate() }

// Run reconciles once, then consumes tasks and reconciles periodically until ctx is done. Then
// it takes no new task; running ones get ShutdownGrace to finish before they are cancelled
// (and handed back by the queue).
func (w *Worker) Run(ctx context.Context) error {
	hard, cancelHard := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHard()
	stopGrace := context.AfterFunc(ctx, func() {
		w.stopping.Store(true)
		time.AfterFunc(w.cfg.ShutdownGrace, cancelHard)
	})
	defer stopGrace()
	handle := func(tctx context.Context, t linkage.Task) error {
		hctx, cancel := context.WithCancel(tracing.WithSpan(hard, tctx)) // the task's trace, not its cancellation
		defer cancel()
		// The queue may cancel one task (e.g. a lost lease); shutdown is handled by hard.
		stop := context.AfterFunc(tctx, func() {
			if ctx.Err() == nil {
				cancel()
			}
		})
		defer stop()
		return w.Handle(hctx, t)
	}
	reconcile := func() {
		if err := w.Reconcile(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("reconcile", "err", err)
		}
	}
	reconcile()
	go periodic.Every(ctx, w.cfg.ReconcileInterval, reconcile)
	return w.queue.Consume(ctx, w.cfg.Concurrency, handle)
}

// Reconcile enqueues the next work of every queued or running run. Tasks already pending or
// running are not duplicated (the queue's idempotency keys); a duplicate that slips through is
// harmless because every handler is idempotent.
func (w *Worker) Reconcile(ctx context.Context) error {
	runs, err := w.store.ActiveRuns(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	for _, r := range runs {
		if err := w.enqueueNext(ctx, r); err != nil {
			return fmt.Errorf("reconcile run %s: %w", r.ID, err)
		}
	}
	return nil
}

// enqueueNext enqueues what run r needs next according to the database.
func (w *Worker) enqueueNext(ctx context.Context, r linkage.RunCounters) error {
	switch {
	case r.State == linkage.RunQueued:
		return w.queue.Enqueue(ctx, task(KindStart, r.ProjectID, r.ID, 0))
	case r.State == linkage.RunRunning && r.Stage == linkage.StageSolve:
		return w.queue.Enqueue(ctx, task(KindSolve, r.ProjectID, r.ID, 0))
	case r.State == linkage.RunRunning:
		return w.advance(ctx, r)
	}
	return nil
}

// advance enqueues the solve of a running run whose chunks are all done, else its open chunks
// (at most a window) after planning more while the window has room: after a start, and from
// the reconciler, which so resumes whatever a crash interrupted.
func (w *Worker) advance(ctx context.Context, r linkage.RunCounters) error {
	if r.ChunksDone >= r.Chunks {
		return w.queue.Enqueue(ctx, task(KindSolve, r.ProjectID, r.ID, 0))
	}
	if _, err := w.fillWindow(ctx, r); err != nil {
		return err
	}
	chunks, err := w.store.ListChunks(ctx, r.ID)
	if err != nil {
		return err
	}
	return w.enqueueChunks(ctx, r, chunks)
}

func (w *Worker) enqueueChunks(ctx context.Context, r linkage.RunCounters, chunks []linkage.Chunk) error {
	for _, c := range chunks {
		if err := w.queue.Enqueue(ctx, task(KindChunk, r.ProjectID, r.ID, c.Index)); err != nil {
			return err
		}
	}
	return nil
}

// next follows the completion of one of a run's chunks: the solve once all are done, else
// the chunks that now fit in the window.
func (w *Worker) next(ctx context.Context, projectID, runID string) error {
	r, err := w.store.GetRun(ctx, projectID, runID)
	if err != nil {
		return err
	}
	if r.State != linkage.RunRunning {
		return nil
	}
	if r.ChunksDone >= r.Chunks {
		return w.queue.Enqueue(ctx, task(KindSolve, projectID, runID, 0))
	}
	rc := r.Counters()
	chunks, err := w.fillWindow(ctx, rc)
	if err != nil {
		return err
	}
	return w.enqueueChunks(ctx, rc, chunks)
}

// fillWindow plans the next chunks of running run r while fewer than ChunkWindow are planned
// and not done, and returns those it planned. Workers completing chunks at once race to plan
// from the same point; the store lets one win, and the others read the run again.
func (w *Worker) fillWindow(ctx context.Context, r linkage.RunCounters) ([]linkage.Chunk, error) {
	var pl *ChunkPlan
	for {
		n := min(w.cfg.ChunkWindow-(r.ChunksPlanned-r.ChunksDone), r.Chunks-r.ChunksPlanned)
		if n <= 0 || r.State != linkage.RunRunning || r.ChunkComparisons <= 0 {
			return nil, nil
		}
		if pl == nil {
			parties, err := w.store.ListParties(ctx, r.ProjectID)
			if err != nil {
				return nil, err
			}
			records := make([]int64, len(parties))
			for i, pa := range parties {
				records[i] = pa.Records
			}
			if pl = NewPlan(records, r.ChunkComparisons); pl.Len() != r.Chunks {
				return nil, fmt.Errorf("run %s: plans %d chunks now, %d at its start", r.ID, pl.Len(), r.Chunks)
			}
		}
		chunks := pl.Chunks(r.ID, r.ChunksPlanned, n)
		err := w.store.PlanChunks(ctx, r.ID, chunks)
		if errors.Is(err, linkage.ErrConflict) {
			again, err := w.store.GetRun(ctx, r.ProjectID, r.ID)
			if err != nil {
				return nil, err
			}
			r = again.Counters()
			continue
		}
		if err != nil {
			return nil, err
		}
		return chunks, nil
	}
}

// Handle runs one task. It returns an error only for failures worth retrying; a run that cannot
// succeed is marked as error instead.
func (w *Worker) Handle(ctx context.Context, t linkage.Task) error {
	var p payload
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		w.log.Error("dropping malformed task", "task", t.ID, "err", err)
		return nil
	}
	start := time.Now()
	var err error
	switch t.Kind {
	case KindStart:
		err = w.start(ctx, p)
	case KindChunk:
		err = w.chunk(ctx, p)
	case KindSolve:
		err = w.solve(ctx, p)
	default:
		w.log.Error("dropping task of unknown kind", "task", t.ID, "kind", t.Kind)
		return nil
	}
	if errors.Is(err, linkage.ErrNotFound) {
		switch _, gerr := w.store.GetRun(ctx, p.ProjectID, p.RunID); {
		case errors.Is(gerr, linkage.ErrNotFound):
			// The project or run was deleted meanwhile: nothing left to do.
			w.log.Info("task for a deleted run", "task", t.ID)
			return nil
		case gerr == nil:
			// The run exists but something it needs is gone (an upload blob lost by the
			// store): no retry can succeed, and the run must say why it ended.
			err = w.fail(ctx, p.RunID, fmt.Sprintf("cannot continue: %v", err))
		default:
			err = errors.Join(err, gerr) // cannot tell: retried
		}
	}
	w.metrics.tasks.WithLabelValues(t.Kind, outcome(err)).Inc()
	w.log.DebugContext(ctx, "task done", "task", t.ID, "duration", time.Since(start), "err", err)
	return err
}

func outcome(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// fail marks the run as error; a run already terminal stays as it is.
func (w *Worker) fail(ctx context.Context, runID, msg string) error {
	w.log.WarnContext(ctx, "run failed", "run", runID, "message", msg)
	err := w.store.FailRun(ctx, runID, msg, w.now())
	if errors.Is(err, linkage.ErrConflict) {
		return nil
	}
	if err == nil {
		w.metrics.runs.WithLabelValues(string(linkage.RunError)).Inc()
	}
	return err
}
