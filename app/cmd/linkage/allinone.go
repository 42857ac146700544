package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	linkhttp "github.com/linkage-platform/linkage/app/http"
)

// runAllInOne runs the API and the workers in one process, migrating the database first. With
// no backend URLs it needs nothing but a data directory: SQLite, an in-process queue, files.
func runAllInOne(ctx context.Context, args []string, _, stderr io.Writer) error {
	f := newFlags("all-in-one", "Serve the API with in-process workers (what `make run` starts).", stderr)
	pf := registerProcess(f)
	fault := registerFault(f, apiFaults, workerFaults)
	api := registerAPI(f, fault)
	wf := registerWorker(f, fault)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := api.validate(); err != nil {
		return err
	}
	p, w, reg, err := wf.open(ctx, pf, stderr, "all-in-one", true)
	if err != nil {
		return err
	}
	defer p.Close()
	log := p.log
	srv := linkhttp.New(api.serverConfig(p, reg, w.Rate))
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
