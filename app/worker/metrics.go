package worker

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	comparisons prometheus.Counter
	tasks       *prometheus.CounterVec
	runs        *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		comparisons: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "linkage_comparisons_total", Help: "Pairs of records compared (pruned ones included).",
		}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkage_worker_tasks_total", Help: "Tasks handled by kind and outcome.",
		}, []string{"kind", "outcome"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkage_worker_runs_finished_total", Help: "Runs finished by this process, by final state.",
		}, []string{"state"}),
	}
	if reg != nil {
		reg.MustRegister(m.comparisons, m.tasks, m.runs)
	}
	return m
}

// RateMeter measures events per second over a sliding window, in one-second buckets.
type RateMeter struct {
	mu      sync.Mutex
	window  time.Duration
	buckets map[int64]int64 // unix second → events
	now     func() time.Time
}

// NewRateMeter measures over window.
func NewRateMeter(window time.Duration) *RateMeter {
	return &RateMeter{window: window, buckets: map[int64]int64{}, now: time.Now}
}

// Add counts n events now.
func (m *RateMeter) Add(n int64) {
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
func (m *RateMeter) Rate() float64 {
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
