package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/tracing"
)

// processFlags are the flags of every long-running command: backends, log level, traces, kernel.
type processFlags struct {
	backends *backendConfig
	level    *string
	tracing  *tracingFlags
	kernel   *string
}

func registerProcess(f *flags) *processFlags {
	return &processFlags{backends: registerBackends(f), level: registerLogLevel(f), tracing: registerTracing(f),
		kernel: f.String("kernel", "", kernelUsage())}
}

// process is what a long-running command runs on: its logger and the three backends.
type process struct {
	log     *slog.Logger
	db      database
	blobs   linkage.BlobStore
	queue   linkage.Queue
	closers []func()
}

// open starts the logger and traces and opens the backends. migrate applies pending schema
// migrations (all-in-one) where the others only check the schema is current (the migrate Job
// ran before them); inProcess allows the in-process queue (API and workers in one process).
func (p *processFlags) open(ctx context.Context, stderr io.Writer, role string, migrate, inProcess bool) (_ *process, err error) {
	log, err := newLogger(stderr, *p.level)
	if err != nil {
		return nil, err
	}
	if err := useKernel(*p.kernel); err != nil {
		return nil, err
	}
	log.Info("dice kernel", "tier", engine.KernelName())
	proc := &process{log: log}
	defer func() {
		if err != nil {
			proc.Close()
		}
	}()
	flushTraces, err := p.tracing.setup(ctx, log, role)
	if err != nil {
		return nil, err
	}
	proc.closers = append(proc.closers, flushTraces)
	if proc.db, err = openDatabase(ctx, p.backends); err != nil {
		return nil, err
	}
	proc.closers = append(proc.closers, func() { _ = proc.db.Close() })
	if migrate {
		applied, err := proc.db.Migrate(ctx)
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		if len(applied) > 0 {
			log.Info("schema migrated", "applied", applied)
		}
	} else if err := proc.db.CheckSchema(ctx); err != nil {
		return nil, err
	}
	if proc.blobs, err = openBlobs(ctx, p.backends); err != nil {
		return nil, err
	}
	queue, err := openQueue(ctx, p.backends, log, inProcess)
	if err != nil {
		return nil, err
	}
	if c, ok := queue.(io.Closer); ok {
		proc.closers = append(proc.closers, func() { _ = c.Close() })
	}
	proc.queue = tracing.Queue{Queue: queue} // tasks carry the trace of what enqueued them
	return proc, nil
}

// Close releases what open opened, in reverse order.
func (p *process) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}
