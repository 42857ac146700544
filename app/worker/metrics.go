package worker

import (
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
