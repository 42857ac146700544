// Package rate measures comparisons per second, the `rate` of GET /status and the
// linkage_comparison_rate metric: a Meter counts events over a sliding window (a worker feeds its
// own), and a Sampler feeds one from the progress the database records, for an API process that
// runs no worker itself.
package rate

import (
	"sync"
	"time"
)

// Meter measures events per second over a sliding window, in one-second buckets. It is safe for
// concurrent use.
type Meter struct {
	mu      sync.Mutex
	window  time.Duration
	buckets map[int64]int64 // unix second → events
	now     func() time.Time
}

// NewMeter measures over window.
func NewMeter(window time.Duration) *Meter {
	return &Meter{window: window, buckets: map[int64]int64{}, now: time.Now}
}

// Add counts n events now.
func (m *Meter) Add(n int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	sec := m.now().Unix()
	m.buckets[sec] += n
	for s := range m.buckets {
		if s <= sec-int64(m.window/time.Second) {
			delete(m.buckets, s)
		}
	}
}

// Rate is the events per second over the window.
func (m *Meter) Rate() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	oldest := m.now().Unix() - int64(m.window/time.Second)
	var sum int64
	for s, n := range m.buckets {
		if s > oldest {
			sum += n
		}
	}
	return float64(sum) / m.window.Seconds()
}
