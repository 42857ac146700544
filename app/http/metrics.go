package http

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/rate"
)

type metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	uploadBytes prometheus.Counter
	uploads     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, store linkage.Store, comparisonRate func() float64) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkage_http_requests_total", Help: "API requests by method, route and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "linkage_http_request_duration_seconds", Help: "API request latency by method and route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"method", "route"}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "linkage_upload_bytes_total", Help: "CLK bytes stored from accepted uploads.",
		}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "linkage_uploads_total", Help: "Uploads by form and outcome.",
		}, []string{"form", "outcome"}),
	}
	reg.MustRegister(m.requests, m.latency, m.uploadBytes, m.uploads, rate.Gauge(comparisonRate), &runsCollector{store: store, ttl: 5 * time.Second})
	return m
}

// runsCollector reports the runs by state from the database, counted at most once per ttl:
// a flood of scrapes must not become a flood of scans over every run.
type runsCollector struct {
	store linkage.Store
	ttl   time.Duration

	mu     sync.Mutex
	at     time.Time
	counts map[linkage.RunState]int
}

var runsDesc = prometheus.NewDesc("linkage_runs", "Runs by state (all projects).", []string{"state"}, nil)

func (c *runsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- runsDesc }

func (c *runsCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.count()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(runsDesc, err)
		return
	}
	for _, s := range []linkage.RunState{linkage.RunCreated, linkage.RunQueued, linkage.RunRunning, linkage.RunCompleted, linkage.RunError} {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(counts[s]), string(s))
	}
}

func (c *runsCollector) count() (map[linkage.RunState]int, error) {
	c.mu.Lock() // concurrent scrapes wait for one count
	defer c.mu.Unlock()
	if c.counts != nil && time.Since(c.at) < c.ttl {
		return c.counts, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.store.CountRuns(ctx)
	if err != nil {
		return nil, err
	}
	c.counts, c.at = counts, time.Now()
	return counts, nil
}
