package rate

import (
	"context"
	"log/slog"
	"time"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/periodic"
)

// Sampler measures the comparisons per second of all workers from the database: it samples the
// progress of unfinished runs and counts how much it grew. Rate is safe for concurrent use.
type Sampler struct {
	store    linkage.Store
	interval time.Duration
	log      *slog.Logger
	meter    *Meter
	last     map[string]linkage.RunCounters // unfinished runs at the previous sample: id → run
	started  bool
}

// NewSampler samples every interval (once Run) and reports the rate over the last minute.
func NewSampler(store linkage.Store, interval time.Duration, log *slog.Logger) *Sampler {
	return &Sampler{store: store, interval: interval, log: log, meter: NewMeter(time.Minute), last: map[string]linkage.RunCounters{}}
}

// Rate is the comparisons per second over the last minute, cluster-wide.
func (s *Sampler) Rate() float64 { return s.meter.Rate() }

// Run samples until ctx is done.
func (s *Sampler) Run(ctx context.Context) {
	sample := func() {
		if err := s.Sample(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sample comparison rate", "err", err)
		}
	}
	sample()
	periodic.Every(ctx, s.interval, sample)
}

// Sample adds the progress made since the previous sample. The first sample is the baseline;
// a run first seen later started meanwhile, so all its progress is new; a run gone since the
// previous sample finished, and its final progress is read once.
func (s *Sampler) Sample(ctx context.Context) error {
	runs, err := s.store.ActiveRuns(ctx)
	if err != nil {
		return err
	}
	var grown int64
	now := make(map[string]linkage.RunCounters, len(runs))
	for _, r := range runs {
		now[r.ID] = r
		if prev, ok := s.last[r.ID]; ok {
			grown += max(0, r.Progress-prev.Progress)
		} else if s.started {
			grown += r.Progress
		}
	}
	for id, prev := range s.last {
		if _, ok := now[id]; ok {
			continue
		}
		if r, err := s.store.GetRun(ctx, prev.ProjectID, id); err == nil {
			grown += max(0, r.Progress-prev.Progress)
		} // deleted runs count no further
	}
	s.last, s.started = now, true
	if grown > 0 {
		s.meter.Add(grown)
	}
	return nil
}
