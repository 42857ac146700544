// Package periodic runs work at a fixed interval until its context is done (the workers'
// reconciler, the queue's retry promoter, the API's rate sampler).
package periodic

import (
	"context"
	"time"
)

// Every calls fn every d, the first time after d, until ctx is done; it returns when ctx is done
// and fn has returned. A call that overruns d delays the next one rather than overlapping it.
func Every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
