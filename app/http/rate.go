package http

import (
	"context"
	"sync"
	"time"

	"github.com/linkage-platform/linkage/app/linkage"
)

// progressRate estimates the comparisons per second of all workers from the database, for an
// API process that runs no workers itself: between two samples (at least a second apart), the
// progress gained by the active runs divided by the time between.
type progressRate struct {
	store linkage.Store
	mu    sync.Mutex
	last  map[string]int64 // run → progress at the last sample
	at    time.Time
	rate  float64
	now   func() time.Time
}

func (p *progressRate) Rate(ctx context.Context) (float64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if !p.at.IsZero() && now.Sub(p.at) < time.Second {
		return p.rate, nil
	}
	runs, err := p.store.ActiveRuns(ctx)
	if err != nil {
		return 0, err
	}
	cur := make(map[string]int64, len(runs))
	var gained int64
	for _, r := range runs {
		cur[r.ID] = r.Progress
		if prev, ok := p.last[r.ID]; ok && r.Progress > prev {
			gained += r.Progress - prev
		}
	}
	if !p.at.IsZero() {
		p.rate = float64(gained) / now.Sub(p.at).Seconds()
	}
	p.last, p.at = cur, now
	return p.rate, nil
}
