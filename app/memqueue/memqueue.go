// Package memqueue implements linkage.Queue in process: the embedded default queue of
// `linkage all-in-one`. Tasks live in memory only; after a restart the worker's reconciler
// re-enqueues the work of unfinished runs from the database.
package memqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/linkage-platform/linkage/app/linkage"
)

// Options tune retries.
type Options struct {
	MaxAttempts int           // attempts before a failing task is dropped (default 5)
	Backoff     time.Duration // delay before the first retry, doubled each time (default 1s)
	MaxBackoff  time.Duration // cap on the delay (default 1m)
	Logger      *slog.Logger
	// Dropped, when set, is called once for each task given up after MaxAttempts failures, with
	// the attempts made: the observable end of its retries (metrics, tests).
	Dropped func(t linkage.Task, attempts int)
}

// Queue is an in-process linkage.Queue.
type Queue struct {
	opts    Options
	mu      sync.Mutex
	pending []entry
	known   map[string]bool // IDs pending, waiting for a retry, or running
	wake    chan struct{}   // closed and replaced when a task becomes pending
}

type entry struct {
	task     linkage.Task
	attempts int
}

var _ linkage.Queue = (*Queue)(nil)

// New returns an empty queue.
func New(opts Options) *Queue {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Queue{opts: opts, known: map[string]bool{}, wake: make(chan struct{})}
}

func (q *Queue) Enqueue(_ context.Context, t linkage.Task) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.known[t.ID] {
		return nil
	}
	q.known[t.ID] = true
	q.push(entry{task: t})
	return nil
}

// push appends e and wakes the consumers; q.mu must be held.
func (q *Queue) push(e entry) {
	q.pending = append(q.pending, e)
	close(q.wake)
	q.wake = make(chan struct{})
}

// Len is the number of tasks waiting to run (for metrics and tests).
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// next blocks until a task is pending or ctx is done. Once ctx is done it hands out nothing:
// a task handed back at shutdown would otherwise be taken again at once, for ever.
func (q *Queue) next(ctx context.Context) (entry, bool) {
	for {
		if ctx.Err() != nil {
			return entry{}, false
		}
		q.mu.Lock()
		if len(q.pending) > 0 {
			e := q.pending[0]
			q.pending[0] = entry{}
			q.pending = q.pending[1:]
			q.mu.Unlock()
			return e, true
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return entry{}, false
		}
	}
}

func (q *Queue) Consume(ctx context.Context, concurrency int, h func(context.Context, linkage.Task) error) error {
	if concurrency <= 0 {
		concurrency = 1
	}
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for {
				e, ok := q.next(ctx)
				if !ok {
					return
				}
				q.handle(ctx, e, h)
			}
		})
	}
	wg.Wait()
	return nil
}

func (q *Queue) handle(ctx context.Context, e entry, h func(context.Context, linkage.Task) error) {
	err := q.safeCall(ctx, e.task, h)
	if n := q.settle(ctx, e, err); n > 0 && q.opts.Dropped != nil {
		q.opts.Dropped(e.task, n) // outside the lock: the hook may enqueue
	}
}

// settle records a handler's outcome: done, handed back, retried later, or dropped, which
// returns the attempts made (0 otherwise).
func (q *Queue) settle(ctx context.Context, e entry, err error) (dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case err == nil:
		delete(q.known, e.task.ID)
	case ctx.Err() != nil:
		// Shutting down: hand the task back without counting an attempt.
		q.pending = append(q.pending, e)
	default:
		e.attempts++
		if e.attempts >= q.opts.MaxAttempts {
			delete(q.known, e.task.ID)
			q.opts.Logger.Error("task dropped after retries", "task", e.task.ID, "kind", e.task.Kind, "attempts", e.attempts, "err", err)
			return e.attempts
		}
		delay := min(q.opts.Backoff<<(e.attempts-1), q.opts.MaxBackoff)
		q.opts.Logger.Warn("task failed, retrying", "task", e.task.ID, "kind", e.task.Kind, "attempt", e.attempts, "retry_in", delay, "err", err)
		time.AfterFunc(delay, func() {
			q.mu.Lock()
			defer q.mu.Unlock()
			q.push(e)
		})
	}
	return 0
}

// safeCall turns a handler panic into an error so one bad task does not kill the process.
func (q *Queue) safeCall(ctx context.Context, t linkage.Task, h func(context.Context, linkage.Task) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("handler panicked")
			q.opts.Logger.Error("task handler panicked", "task", t.ID, "panic", fmt.Sprint(r))
		}
	}()
	return h(ctx, t)
}
