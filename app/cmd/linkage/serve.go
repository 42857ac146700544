package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/rate"
)

// runServe serves the API only; workers run as `linkage worker` processes.
func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	f := newFlags("serve", "Serve the API (no workers). Needs a shared database, queue and blob store; run `linkage migrate` first.", stderr)
	pf := registerProcess(f)
	api := registerAPI(f, registerFault(f, apiFaults))
	if err := f.parse(args); err != nil {
		return err
	}
	if err := api.validate(); err != nil {
		return err
	}
	p, err := pf.open(ctx, stderr, "serve", false, false)
	if err != nil {
		return err
	}
	defer p.Close()
	log := p.log
	// No worker here: /status reports the comparisons of all workers, sampled from the database.
	sampler := rate.NewSampler(p.db, 5*time.Second, log)
	go sampler.Run(ctx)
	srv := linkhttp.New(api.serverConfig(p, newRegistry(), sampler.Rate))
	err = serveHTTP(ctx, log, *api.addr, srv, *api.shutdownTimeout)
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
