package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/linkage-platform/linkage/app/tracing"
	"github.com/linkage-platform/linkage/app/worker"
)

// runWorker runs workers only: they take run tasks from the shared queue.
func runWorker(ctx context.Context, args []string, _, stderr io.Writer) error {
	f := newFlags("worker", "Run workers: compare chunks and solve runs taken from the shared queue.", stderr)
	backends := registerBackends(f)
	wf := registerWorker(f)
	metricsAddr := f.String("metrics-addr", ":9090", "address serving /metrics and /healthz (empty: none)")
	level := registerLogLevel(f)
	tf := registerTracing(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := wf.validate(); err != nil {
		return err
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	flushTraces, err := tf.setup(ctx, log, "worker")
	if err != nil {
		return err
	}
	defer flushTraces()
	db, err := openDatabase(ctx, backends)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.CheckSchema(ctx); err != nil {
		return err
	}
	blobs, err := openBlobs(ctx, backends)
	if err != nil {
		return err
	}
	queue, err := openQueue(ctx, backends, log, false)
	if err != nil {
		return err
	}
	if c, ok := queue.(io.Closer); ok {
		defer c.Close()
	}
	queue = tracing.Queue{Queue: queue} // tasks carry the trace of what enqueued them
	reg := newRegistry()
	w := worker.New(db, blobs, queue, log, reg, wf.config())
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
