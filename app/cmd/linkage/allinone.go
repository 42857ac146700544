package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/tracing"
	"github.com/linkage-platform/linkage/app/worker"
)

// runAllInOne runs the API and the workers in one process, migrating the database first. With
// no backend URLs it needs nothing but a data directory: SQLite, an in-process queue, files.
func runAllInOne(ctx context.Context, args []string, _, stderr io.Writer) error {
	f := newFlags("all-in-one", "Serve the API with in-process workers (what `make run` starts).", stderr)
	backends := registerBackends(f)
	api := registerAPI(f)
	wf := registerWorker(f)
	level := registerLogLevel(f)
	tf := registerTracing(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := api.validate(); err != nil {
		return err
	}
	if err := wf.validate(); err != nil {
		return err
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	flushTraces, err := tf.setup(ctx, log, "all-in-one")
	if err != nil {
		return err
	}
	defer flushTraces()
	db, err := openDatabase(ctx, backends)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) > 0 {
		log.Info("schema migrated", "applied", applied)
	}
	blobs, err := openBlobs(ctx, backends)
	if err != nil {
		return err
	}
	queue, err := openQueue(ctx, backends, log, true)
	if err != nil {
		return err
	}
	if c, ok := queue.(io.Closer); ok {
		defer c.Close()
	}
	queue = tracing.Queue{Queue: queue} // tasks carry the trace of what enqueued them
	reg := newRegistry()
	w := worker.New(db, blobs, queue, log, reg, wf.config())
	srv := linkhttp.New(linkhttp.Config{
		Store: db, Blobs: blobs, Scheduler: worker.Scheduler{Queue: queue}, Logger: log,
		Registry: reg, Limits: api.limitsConfig(), Version: version, RateLimit: api.rateLimiter(), Rate: w.Rate,
	})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var workerErr error
	wg.Go(func() { workerErr = w.Run(ctx) })
	err = serveHTTP(ctx, log, *api.addr, srv, *api.shutdownTimeout)
	cancel() // a failed listener stops the workers too
	wg.Wait()
	if err != nil {
		return err
	}
	if workerErr != nil {
		return fmt.Errorf("worker: %w", workerErr)
	}
	return nil
}
