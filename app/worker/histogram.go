package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/histogram"
	"github.com/linkage-platform/linkage/app/linkage"
)

// HistogramConfig sets the score histogram each run records beside its result
// (GET …/runs/{rid}/histogram). It is computed in the chunk tasks, while the rows are in memory:
// the candidates give the exact counts at and above the run threshold; the scores between the
// floor and the threshold come from a counting pass over every Stride-th row, with the stride
// chosen so that a run scores about SamplePairs pairs whatever its size. So the extra cost per
// run is bounded, no candidate list below the threshold is ever held, and no upload is read
// twice.
type HistogramConfig struct {
	Floor       float64 // lowest score counted; 0 records no histogram
	Bins        int     // bins between Floor and 1 (default histogram.DefaultBins)
	SamplePairs int64   // pairs scored below the threshold per run (default 1M)
}

// chunkHistogram records chunk c's part of the run's histogram.
func (w *Worker) chunkHistogram(ctx context.Context, run *linkage.Run, parties []linkage.Party, c *linkage.Chunk,
	a, b *engine.CLKs, opt engine.Options, cands []engine.Candidate) error {
	cfg := w.cfg.Histogram
	if cfg.Floor <= 0 {
		return nil
	}
	var pairs int64
	for p := range parties {
		for q := p + 1; q < len(parties); q++ {
			pairs += parties[p].Records * parties[q].Records
		}
	}
	h, err := histogram.New(cfg.Floor, cfg.Bins, histogram.StrideFor(pairs, cfg.SamplePairs), run.Threshold)
	if err != nil {
		return fmt.Errorf("histogram of chunk %d: %w", c.Index, err)
	}
	err = h.Sample(ctx, a, b, opt)
	if err != nil {
		return fmt.Errorf("histogram of chunk %d: %w", c.Index, err)
	}
	h.AddCandidates(cands)
	return putWith(ctx, w.blobs, linkage.ChunkHistogramKey(run.ProjectID, run.ID, c.Index), func(wr io.Writer) error {
		return json.NewEncoder(wr).Encode(h)
	})
}

// solveHistogram merges the chunks' histograms into the run's. A run whose chunks lack one
// (histograms were off, or configured differently, on some worker) gets none: the result
// matters, the plot does not, so this is logged and not retried.
func (w *Worker) solveHistogram(ctx context.Context, projectID, runID, solveID string, chunks int) error {
	if w.cfg.Histogram.Floor <= 0 {
		return nil
	}
	var total *histogram.Histogram
	for i := range chunks {
		h, err := w.readHistogram(ctx, linkage.ChunkHistogramKey(projectID, runID, i))
		if errors.Is(err, linkage.ErrNotFound) {
			w.log.Warn("run without histogram: a chunk has none", "run", runID, "chunk", i)
			return nil
		}
		if err != nil {
			return err
		}
		if total == nil {
			total = h
		} else if err := total.Merge(h); err != nil {
			w.log.Warn("run without histogram", "run", runID, "err", err)
			return nil
		}
	}
	if total == nil {
		return nil
	}
	return putWith(ctx, w.blobs, linkage.HistogramKey(projectID, runID, solveID), func(wr io.Writer) error {
		return json.NewEncoder(wr).Encode(total)
	})
}

func (w *Worker) readHistogram(ctx context.Context, key string) (*histogram.Histogram, error) {
	rc, err := w.blobs.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	defer rc.Close()
	var h histogram.Histogram
	if err := json.NewDecoder(rc).Decode(&h); err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return &h, nil
}
