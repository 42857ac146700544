// Package rate measures comparisons per second, the `rate` of GET /status and the
// linkage_comparison_rate metric: a Meter counts events over a sliding window (a worker feeds its
// own), and a Sampler feeds one from the progress the database records, for an API process that
// runs no worker itself.
package rate

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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

// Gauge is the linkage_comparison_rate metric reading rate: every process that compares (worker,
// all-in-one) exports its own workers' Meter; `serve` exports its Sampler, the whole service's rate.
func Gauge(rate func() float64) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "linkage_comparison_rate",
		Help: "Comparisons per second over the last minute: this process's workers' (worker, all-in-one) or, in serve, all workers' as the database records them; the /status rate.",
	}, rate)
}
