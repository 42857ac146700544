package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/linkage-platform/linkage/app/clusterrate"
	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/tracing"
	"github.com/linkage-platform/linkage/app/worker"
)

// runServe serves the API only; workers run as `linkage worker` processes.
func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	f := newFlags("serve", "Serve the API (no workers). Needs a shared database, queue and blob store; run `linkage migrate` first.", stderr)
	backends := registerBackends(f)
	api := registerAPI(f)
	level := registerLogLevel(f)
	tf := registerTracing(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := api.validate(); err != nil {
		return err
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	flushTraces, err := tf.setup(ctx, log, "serve")
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
	// No worker here: /status reports the comparisons of all workers, sampled from the database.
	rate := clusterrate.New(db, 5*time.Second, log)
	go rate.Run(ctx)
	srv := linkhttp.New(linkhttp.Config{
		Store: db, Blobs: blobs, Scheduler: worker.Scheduler{Queue: queue}, Logger: log,
		Registry: newRegistry(), Limits: api.limitsConfig(), Version: version, RateLimit: api.rateLimiter(), Rate: rate.Rate,
	})
	err = serveHTTP(ctx, log, *api.addr, srv, *api.shutdownTimeout)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
