package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/results"
)

// start checks the uploads of a queued run, plans its first window of chunks and enqueues them.
func (w *Worker) start(ctx context.Context, p payload) error {
	run, err := w.store.GetRun(ctx, p.ProjectID, p.RunID)
	if err != nil {
		return err
	}
	if run.State == linkage.RunQueued {
		parties, err := w.store.ListParties(ctx, p.ProjectID)
		if err != nil {
			return err
		}
		records := make([]int64, len(parties))
		for i, pa := range parties {
			if pa.State != linkage.UploadDone {
				return w.fail(ctx, run.ID, fmt.Sprintf("party %d has not uploaded", i))
			}
			if pa.Problem != "" {
				return w.fail(ctx, run.ID, pa.Problem)
			}
			// A defence, not a copy: uploads recorded before the stores checked sizes (23b6d77) may differ.
			if pa.HashSize != parties[0].HashSize {
				return w.fail(ctx, run.ID, fmt.Sprintf("CLKs of party 0 are %d bytes but those of party %d are %d bytes: all parties must use the same encoding size",
					parties[0].HashSize, i, pa.HashSize))
			}
			records[i] = pa.Records
		}
		project, err := w.store.GetProject(ctx, p.ProjectID)
		if err != nil {
			return err
		}
		if over, err := w.overBudget(ctx, run, project, parties); err != nil {
			return err
		} else if over != "" {
			return w.fail(ctx, run.ID, over)
		}
		pl := NewPlan(records, w.cfg.ChunkComparisons)
		err = w.store.StartRun(ctx, run.ID, pl.RunPlan(), pl.Chunks(run.ID, 0, w.cfg.ChunkWindow), w.now())
		if err != nil && !errors.Is(err, linkage.ErrConflict) { // conflict: started by another worker
			return err
		}
		if err := w.fault(ctx, FaultStartCommitted, 0); err != nil {
			return err
		}
		w.log.InfoContext(ctx, "run started", "run", run.ID, "project", run.ProjectID, "chunks", pl.Len())
		if run, err = w.store.GetRun(ctx, p.ProjectID, p.RunID); err != nil {
			return err
		}
	}
	if run.State != linkage.RunRunning {
		return nil
	}
	return w.advance(ctx, run.Counters())
}

// chunk computes one chunk's candidates into the blob store.
func (w *Worker) chunk(ctx context.Context, p payload) (err error) {
	run, err := w.store.GetRun(ctx, p.ProjectID, p.RunID)
	if err != nil {
		return err
	}
	if run.State != linkage.RunRunning {
		return nil
	}
	c, err := w.store.GetChunk(ctx, p.RunID, p.Chunk)
	if errors.Is(err, linkage.ErrNotFound) && p.Chunk < run.ChunksPlanned {
		// Done already (a redelivery): make sure what follows its completion happened.
		return w.next(ctx, p.ProjectID, p.RunID)
	}
	if err != nil {
		return err
	}
	attempt, lastErr, err := w.store.BeginChunk(ctx, p.RunID, p.Chunk)
	if errors.Is(err, linkage.ErrNotFound) {
		return w.next(ctx, p.ProjectID, p.RunID) // done meanwhile by a duplicate delivery, or the run is gone
	}
	if err != nil {
		return err
	}
	defer w.settle(ctx, &err, "chunk", func(ctx context.Context) error { return w.store.ReturnChunkAttempt(ctx, p.RunID, p.Chunk) },
		func(ctx context.Context, cause string) error {
			return w.store.ChunkAttemptFailed(ctx, p.RunID, p.Chunk, cause)
		})
	if attempt > w.cfg.MaxAttempts {
		return w.fail(ctx, run.ID, exhausted(fmt.Sprintf("comparing chunk %d (parties %d and %d) failed %d times", c.Index, c.PartyA, c.PartyB, attempt-1), lastErr))
	}
	project, err := w.store.GetProject(ctx, p.ProjectID)
	if err != nil {
		return err
	}
	parties, err := w.store.ListParties(ctx, p.ProjectID)
	if err != nil {
		return err
	}
	size := parties[c.PartyA].HashSize
	a, err := w.readRows(ctx, parties[c.PartyA], size, c.ALo, c.AHi)
	if err != nil {
		return err
	}
	b, err := w.readRows(ctx, parties[c.PartyB], size, c.BLo, c.BHi)
	if err != nil {
		return err
	}
	opt := engine.Options{
		Threshold: run.Threshold, Workers: w.cfg.CompareWorkers, PartyA: c.PartyA, PartyB: c.PartyB,
		Progress: w.progress(ctx, c), MaxCandidates: w.cfg.MaxChunkCandidates,
	}
	if project.UsesBlocking {
		if opt.BlocksA, err = w.readBlocks(ctx, parties[c.PartyA], c.ALo, c.AHi); err != nil {
			return err
		}
		if opt.BlocksB, err = w.readBlocks(ctx, parties[c.PartyB], c.BLo, c.BHi); err != nil {
			return err
		}
	}
	cands, err := engine.Compare(ctx, a, b, opt)
	var over *engine.CandidateLimitError
	if errors.As(err, &over) {
		limit := &linkage.LimitError{Limit: "max-chunk-candidates", Max: over.Max}
		return w.fail(ctx, run.ID, fmt.Sprintf("chunk %d (parties %d and %d) stopped at %d candidate pairs: %v; raise the threshold (%g) or the limit",
			c.Index, c.PartyA, c.PartyB, over.Reached, limit, run.Threshold))
	}
	if err != nil {
		return fmt.Errorf("compare chunk %d: %w", c.Index, err)
	}
	if err := w.fault(ctx, FaultChunkCompared, c.Index); err != nil {
		return err
	}
	if err := w.chunkHistogram(ctx, run, parties, c, a, b, opt, cands); err != nil {
		return err
	}
	key := linkage.ChunkKey(p.ProjectID, p.RunID, c.Index)
	if err := putWith(ctx, w.blobs, key, func(wr io.Writer) error { return engine.EncodeCandidates(wr, cands) }); err != nil {
		return err
	}
	remaining, err := w.store.CompleteChunk(ctx, p.RunID, c.Index, int64(len(cands)))
	if errors.Is(err, linkage.ErrNotFound) {
		_ = w.blobs.DeletePrefix(ctx, linkage.RunPrefix(p.ProjectID, p.RunID)) // deleted while computing
		return err
	}
	if err != nil {
		return err
	}
	if remaining == 0 {
		return w.queue.Enqueue(ctx, task(KindSolve, p.ProjectID, p.RunID, 0))
	}
	if err := w.fault(ctx, FaultChunkDone, c.Index); err != nil {
		return err
	}
	return w.next(ctx, p.ProjectID, p.RunID)
}

// progress returns the engine's progress callback for chunk c: it feeds the metrics at once
// and writes the chunk's progress to the database at most every ProgressInterval.
func (w *Worker) progress(ctx context.Context, c *linkage.Chunk) func(int64) {
	var last int64
	var written time.Time
	return func(done int64) {
		w.metrics.comparisons.Add(float64(done - last))
		w.rate.Add(done - last)
		last = done
		if now := time.Now(); now.Sub(written) >= w.cfg.ProgressInterval {
			written = now
			if err := w.store.ChunkProgress(ctx, c.RunID, c.Index, done); err != nil && ctx.Err() == nil {
				w.log.Warn("chunk progress", "run", c.RunID, "chunk", c.Index, "err", err)
			}
		}
	}
}

// padReader pads every size-byte record of r with zero bytes to len(rec), a multiple of 8: zero
// bits change neither popcounts nor Dice scores, so binary CLKs of any byte length (the reference
// accepts 1..1024) link as they are.
type padReader struct {
	r    io.Reader
	rec  []byte // one padded record; the padding stays zero
	size int
	left []byte // the unread part of rec
}

func (p *padReader) Read(b []byte) (int, error) {
	if len(p.left) == 0 {
		if _, err := io.ReadFull(p.r, p.rec[:p.size]); err != nil {
			return 0, err
		}
		p.left = p.rec
	}
	n := copy(b, p.left)
	p.left = p.left[n:]
	return n, nil
}

// readRows reads rows lo..hi-1 of a party's upload (the blob of the attempt recorded), numbered
// from lo.
func (w *Worker) readRows(ctx context.Context, pa linkage.Party, size int, lo, hi int64) (*engine.CLKs, error) {
	key, party := linkage.UploadKey(pa.ProjectID, pa.Index, pa.Attempt), pa.Index
	var rc io.ReadCloser
	var err error
	if rg, ok := w.blobs.(linkage.RangeGetter); ok {
		rc, err = rg.GetRange(ctx, key, lo*int64(size), (hi-lo)*int64(size))
	} else if rc, err = w.blobs.Get(ctx, key); err == nil {
		_, err = io.CopyN(io.Discard, rc, lo*int64(size))
	}
	if err != nil {
		if rc != nil {
			rc.Close()
		}
		return nil, fmt.Errorf("read upload of party %d: %w", party, err)
	}
	defer rc.Close()
	var in io.Reader = bufio.NewReaderSize(rc, 1<<20)
	if size%8 != 0 {
		padded := (size + 7) / 8 * 8
		in, size = &padReader{r: in, rec: make([]byte, padded), size: size}, padded
	}
	clks, err := engine.ReadBinary(in, size, int(hi-lo))
	if err != nil {
		return nil, fmt.Errorf("read upload of party %d rows %d..%d: %w", party, lo, hi, err)
	}
	return clks.WithOffset(int(lo)), nil // rows keep their numbers in the upload
}

// implicitBlock is the block of every record of a party that uploaded no blocks.
var implicitBlock = []string{"1"}

func (w *Worker) readBlocks(ctx context.Context, party linkage.Party, lo, hi int64) ([][]string, error) {
	if !party.HasBlocks {
		// A binary upload into a blocking project: every record is in one implicit block.
		blocks := make([][]string, hi-lo)
		for i := range blocks {
			blocks[i] = implicitBlock
		}
		return blocks, nil
	}
	rc, err := w.blocksOf(ctx, linkage.BlocksKey(party.ProjectID, party.Index, party.Attempt), lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read blocks of party %d: %w", party.Index, err)
	}
	defer rc.Close()
	blocks, err := linkage.ReadBlocks(rc, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("read blocks of party %d: %w", party.Index, err)
	}
	return blocks, nil
}

const (
	blocksIndexEvery = 1024 // rows per index entry: 8 bytes per 1024 rows
	blocksIndexed    = 64   // blobs whose index a worker keeps
)

// blocksOf opens the part of blocks blob key holding the lines of rows lo..hi-1, so that each
// chunk does not read its parties' whole blobs: the blob is indexed by one whole read, the
// first time this worker needs it. A blob whose rows do not ascend is read whole.
func (w *Worker) blocksOf(ctx context.Context, key string, lo, hi int64) (io.ReadCloser, error) {
	rg, ok := w.blobs.(linkage.RangeGetter)
	if !ok {
		return w.blobs.Get(ctx, key)
	}
	w.blocksMu.Lock()
	x, known := w.blocksIndexes[key]
	w.blocksMu.Unlock()
	if !known {
		rc, err := w.blobs.Get(ctx, key)
		if err != nil {
			return nil, err
		}
		x, err = linkage.IndexBlocks(rc, blocksIndexEvery)
		rc.Close()
		if err != nil {
			return nil, err
		}
		w.blocksMu.Lock()
		if len(w.blocksIndexes) >= blocksIndexed {
			clear(w.blocksIndexes) // the runs of the past; indexing again costs one read
		}
		w.blocksIndexes[key] = x
		w.blocksMu.Unlock()
	}
	if x == nil {
		return w.blobs.Get(ctx, key)
	}
	off, n := x.Range(lo, hi)
	return rg.GetRange(ctx, key, off, n)
}

// solve merges the chunks' candidates and writes the result.
func (w *Worker) solve(ctx context.Context, p payload) (err error) {
	run, err := w.store.GetRun(ctx, p.ProjectID, p.RunID)
	if err != nil {
		return err
	}
	if run.State != linkage.RunRunning {
		return nil // completed or failed meanwhile
	}
	if run.ChunksDone < run.Chunks {
		return w.advance(ctx, run.Counters()) // early: a chunk is still missing
	}
	total := run.Candidates
	attempt, lastErr, err := w.store.BeginSolve(ctx, p.RunID)
	if errors.Is(err, linkage.ErrConflict) {
		return nil // completed or failed meanwhile
	}
	if err != nil {
		return err
	}
	defer w.settle(ctx, &err, "solve", func(ctx context.Context) error { return w.store.ReturnSolveAttempt(ctx, p.RunID) },
		func(ctx context.Context, cause string) error { return w.store.SolveAttemptFailed(ctx, p.RunID, cause) })
	if attempt > w.cfg.MaxAttempts {
		return w.fail(ctx, p.RunID, exhausted(fmt.Sprintf("solving failed %d times", attempt-1), lastErr))
	}
	if err := w.fault(ctx, FaultSolveStarted, 0); err != nil {
		return err
	}
	project, err := w.store.GetProject(ctx, p.ProjectID)
	if err != nil {
		return err
	}
	if limit := w.solverLimit(project.ResultType); total > limit.Max {
		return w.fail(ctx, p.RunID, fmt.Sprintf("%d candidate pairs: %v; raise the threshold or the limit", total, limit))
	}
	// One allocation for all candidates (the chunks recorded how many), sorted in place: the
	// peak is the result plus one chunk, not twice the result.
	cands := make([]engine.Candidate, 0, total)
	for i := range run.Chunks {
		chunk, err := w.readCandidates(ctx, p.ProjectID, p.RunID, i)
		if err != nil {
			return err
		}
		cands = append(cands, chunk...)
	}
	engine.SortCandidates(cands)
	// A second solve (a duplicate task) need not solve again a run finished meanwhile.
	if run, err := w.store.GetRun(ctx, p.ProjectID, p.RunID); err != nil {
		return err
	} else if run.State.Terminal() {
		return nil
	}
	// This attempt writes under keys of its own and the completion records them, so a solve
	// still running when another one completes the run never writes over the served result.
	// (An id, not the attempt number: ReturnSolveAttempt hands numbers out again.)
	solveID := linkage.NewID()
	recorded := false // or maybe recorded: the blobs are kept
	defer func() {
		if !recorded {
			w.discardSolve(ctx, p.ProjectID, p.RunID, solveID)
		}
	}()
	if err := w.writeResult(ctx, project, p.RunID, solveID, cands); err != nil {
		return err
	}
	if err := w.solveHistogram(ctx, p.ProjectID, p.RunID, solveID, run.Chunks); err != nil {
		return err
	}
	recorded = true
	if err := w.store.CompleteRun(ctx, p.RunID, solveID, w.now()); err != nil {
		if errors.Is(err, linkage.ErrNotFound) {
			_ = w.blobs.DeletePrefix(ctx, linkage.RunPrefix(p.ProjectID, p.RunID)) // deleted while solving
		}
		if errors.Is(err, linkage.ErrConflict) {
			recorded = false // another attempt's result stands (or the run failed)
			return nil
		}
		return err // the outcome is unknown: the blobs stay (removed with the run if not recorded)
	}
	w.metrics.runs.WithLabelValues(string(linkage.RunCompleted)).Inc()
	w.log.InfoContext(ctx, "run completed", "run", p.RunID, "project", p.ProjectID, "solve", solveID, "candidates", len(cands))
	if err := w.blobs.DeletePrefix(ctx, linkage.ChunksPrefix(p.ProjectID, p.RunID)); err != nil {
		w.log.Warn("delete chunk candidates", "run", p.RunID, "err", err)
	}
	return nil
}

func (w *Worker) readCandidates(ctx context.Context, projectID, runID string, index int) ([]engine.Candidate, error) {
	rc, err := w.blobs.Get(ctx, linkage.ChunkKey(projectID, runID, index))
	if err != nil {
		return nil, fmt.Errorf("read candidates of chunk %d: %w", index, err)
	}
	defer rc.Close()
	cands, err := engine.DecodeCandidates(rc)
	if err != nil {
		return nil, fmt.Errorf("read candidates of chunk %d: %w", index, err)
	}
	return cands, nil
}

// writeResult solves cands into the project's result type and writes the result blob(s). The
// permutations' random rows are seeded with the run id, so solving again gives the same result.
func (w *Worker) writeResult(ctx context.Context, project *linkage.Project, runID, solveID string, cands []engine.Candidate) error {
	parties, err := w.store.ListParties(ctx, project.ID)
	if err != nil {
		return err
	}
	sizes := make([]int, len(parties))
	for i, pa := range parties {
		sizes[i] = int(pa.Records)
	}
	stored := 0
	return results.Solve(project.ResultType, cands, sizes, runID, func(part string, write func(io.Writer) error) error {
		if err := putWith(ctx, w.blobs, linkage.ResultKey(project.ID, runID, solveID, part), write); err != nil {
			return err
		}
		stored++
		return w.fault(ctx, FaultResultWrite, stored)
	})
}

// discardSolve deletes the blobs of a solve attempt whose result the run does not serve.
func (w *Worker) discardSolve(ctx context.Context, projectID, runID, solveID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := w.blobs.DeletePrefix(ctx, linkage.SolvePrefix(projectID, runID, solveID)); err != nil {
		w.log.Warn("delete the blobs of a solve attempt not recorded", "run", runID, "solve", solveID, "err", err)
	}
}

// putWith streams what write produces into the blob key.
func putWith(ctx context.Context, blobs linkage.BlobStore, key string, write func(io.Writer) error) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	_, err := blobs.Put(ctx, key, pr)
	pr.CloseWithError(err) // unblocks the writer if Put stopped early
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}
