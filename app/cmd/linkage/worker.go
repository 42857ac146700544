package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/linkage-platform/linkage/app/rate"
)

// runWorker runs workers only: they take run tasks from the shared queue.
func runWorker(ctx context.Context, args []string, _, stderr io.Writer) error {
	f := newFlags("worker", "Run workers: compare chunks and solve runs taken from the shared queue.", stderr)
	pf := registerProcess(f)
	wf := registerWorker(f, registerFault(f, workerFaults))
	metricsAddr := f.String("metrics-addr", ":9090", "address serving /metrics and /healthz (empty: none)")
	if err := f.parse(args); err != nil {
		return err
	}
	p, w, reg, err := wf.open(ctx, pf, stderr, "worker", false)
	if err != nil {
		return err
	}
	defer p.Close()
	log := p.log
	reg.MustRegister(rate.Gauge(w.Rate)) // in all-in-one the API registers it
	if *metricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
		go func() {
			if err := serveHTTP(ctx, log, *metricsAddr, mux, *wf.grace); err != nil {
				log.Error("metrics server", "err", err)
			}
		}()
	}
	log.Info("worker started", "concurrency", *wf.concurrency)
	if err := w.Run(ctx); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	return nil
}
