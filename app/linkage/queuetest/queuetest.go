// Package queuetest is the behaviour suite every linkage.Queue implementation must pass.
package queuetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
)

// Run runs the suite. open must return an empty queue whose retry back-off is short (well under
// a second), which gives up after a few attempts and then calls dropped (when not nil) with the
// task and the attempts made; it is called once per subtest.
func Run(t *testing.T, open func(t *testing.T, dropped func(linkage.Task, int)) linkage.Queue) {
	tests := []struct {
		name string
		fn   func(t *testing.T, q linkage.Queue)
	}{
		{"Delivers", testDelivers},
		{"EnqueueBeforeConsume", testEnqueueBeforeConsume},
		{"Dedup", testDedup},
		{"RequeueAfterDone", testRequeueAfterDone},
		{"Retry", testRetry},
		{"Concurrency", testConcurrency},
		{"StopsOnCancel", testStopsOnCancel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t, nil)) })
	}
	t.Run("GivesUp", func(t *testing.T) { testGivesUp(t, open) })
}

const wait = 10 * time.Second

// consume starts Consume in the background and returns a function that stops it and checks it
// returned nil.
func consume(t *testing.T, q linkage.Queue, concurrency int, h func(context.Context, linkage.Task) error) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Consume(ctx, concurrency, h) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(wait):
			t.Fatal("Consume did not return after cancel")
		}
	}
	t.Cleanup(func() { cancel() })
	return stop
}

func testDelivers(t *testing.T, q linkage.Queue) {
	got := make(chan linkage.Task, 10)
	stop := consume(t, q, 2, func(_ context.Context, task linkage.Task) error { got <- task; return nil })
	defer stop()
	require.NoError(t, q.Enqueue(context.Background(), linkage.Task{ID: "a", Kind: "run.start", Payload: []byte(`{"run":"r"}`)}))
	select {
	case task := <-got:
		require.Equal(t, "a", task.ID)
		require.Equal(t, "run.start", task.Kind)
		require.JSONEq(t, `{"run":"r"}`, string(task.Payload))
	case <-time.After(wait):
		t.Fatal("task not delivered")
	}
}

func testEnqueueBeforeConsume(t *testing.T, q linkage.Queue) {
	for i := range 5 {
		require.NoError(t, q.Enqueue(context.Background(), linkage.Task{ID: fmt.Sprint("t", i), Kind: "k"}))
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	all := make(chan struct{})
	stop := consume(t, q, 1, func(_ context.Context, task linkage.Task) error {
		mu.Lock()
		defer mu.Unlock()
		seen[task.ID] = true
		if len(seen) == 5 {
			close(all)
		}
		return nil
	})
	defer stop()
	select {
	case <-all:
	case <-time.After(wait):
		t.Fatal("not all tasks delivered")
	}
}

func testDedup(t *testing.T, q linkage.Queue) {
	release := make(chan struct{})
	var runs atomic.Int32
	started := make(chan struct{}, 10)
	stop := consume(t, q, 4, func(_ context.Context, task linkage.Task) error {
		runs.Add(1)
		started <- struct{}{}
		<-release
		return nil
	})
	defer stop()
	ctx := context.Background()
	require.NoError(t, q.Enqueue(ctx, linkage.Task{ID: "same", Kind: "k"}))
	<-started
	// Running: enqueueing the same ID again is a no-op.
	for range 3 {
		require.NoError(t, q.Enqueue(ctx, linkage.Task{ID: "same", Kind: "k"}))
	}
	select {
	case <-started:
		t.Fatal("a task with the ID of a running task was delivered")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	require.EqualValues(t, 1, runs.Load())
}

func testRequeueAfterDone(t *testing.T, q linkage.Queue) {
	got := make(chan string, 10)
	stop := consume(t, q, 1, func(_ context.Context, task linkage.Task) error { got <- task.ID; return nil })
	defer stop()
	ctx := context.Background()
	for range 2 {
		// The task is finished only when its handler has returned, just after it sent the ID
		// (and, in a remote queue, once that is recorded): until then Enqueue is a no-op, so
		// enqueue again until the task is delivered.
		deadline := time.After(wait)
	deliver:
		for {
			require.NoError(t, q.Enqueue(ctx, linkage.Task{ID: "again", Kind: "k"}))
			select {
			case id := <-got:
				require.Equal(t, "again", id)
				break deliver
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Fatal("a finished task's ID must be enqueueable again")
			}
		}
	}
}

func testRetry(t *testing.T, q linkage.Queue) {
	var calls atomic.Int32
	done := make(chan struct{})
	stop := consume(t, q, 1, func(_ context.Context, task linkage.Task) error {
		if calls.Add(1) < 3 {
			return errors.New("transient")
		}
		close(done)
		return nil
	})
	defer stop()
	require.NoError(t, q.Enqueue(context.Background(), linkage.Task{ID: "flaky", Kind: "k"}))
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("task not retried until success (%d calls)", calls.Load())
	}
}

// testGivesUp: a task that always fails is dropped after a bounded number of attempts, each one
// running the handler once, and its ID is free again (nothing of it is still scheduled).
func testGivesUp(t *testing.T, open func(*testing.T, func(linkage.Task, int)) linkage.Queue) {
	dropped := make(chan int, 2)
	q := open(t, func(task linkage.Task, attempts int) {
		if task.ID == "bad" {
			dropped <- attempts
		}
	})
	var calls atomic.Int32
	again := make(chan struct{})
	stop := consume(t, q, 1, func(_ context.Context, task linkage.Task) error {
		calls.Add(1)
		if string(task.Payload) == "again" {
			close(again)
			return nil
		}
		return errors.New("permanent")
	})
	defer stop()
	require.NoError(t, q.Enqueue(context.Background(), linkage.Task{ID: "bad", Kind: "k"}))
	var n int
	select {
	case n = <-dropped:
	case <-time.After(wait):
		t.Fatalf("a failing task was not given up (%d attempts so far)", calls.Load())
	}
	require.GreaterOrEqual(t, n, 2, "a failing task is retried before it is given up")
	require.Equal(t, int32(n), calls.Load(), "every attempt ran the handler once")

	require.NoError(t, q.Enqueue(context.Background(), linkage.Task{ID: "bad", Kind: "k", Payload: []byte("again")}))
	select {
	case <-again:
	case <-time.After(wait):
		t.Fatal("the ID of a dropped task is still taken: a task enqueued under it was not delivered")
	}
	require.Equal(t, int32(n+1), calls.Load(), "the dropped task ran no more")
	require.Empty(t, dropped, "a task is given up once")
}

func testConcurrency(t *testing.T, q linkage.Queue) {
	var cur, peak atomic.Int32
	var wg sync.WaitGroup
	wg.Add(8)
	stop := consume(t, q, 3, func(_ context.Context, task linkage.Task) error {
		defer wg.Done()
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
		cur.Add(-1)
		return nil
	})
	defer stop()
	for i := range 8 {
		require.NoError(t, q.Enqueue(context.Background(), linkage.Task{ID: fmt.Sprint("c", i), Kind: "k"}))
	}
	wg.Wait()
	require.LessOrEqual(t, peak.Load(), int32(3))
	require.GreaterOrEqual(t, peak.Load(), int32(2), "tasks run in parallel")
}

func testStopsOnCancel(t *testing.T, q linkage.Queue) {
	started := make(chan struct{})
	var finished atomic.Bool
	stop := consume(t, q, 1, func(ctx context.Context, task linkage.Task) error {
		close(started)
		time.Sleep(200 * time.Millisecond)
		finished.Store(true)
		return nil
	})
	require.NoError(t, q.Enqueue(context.Background(), linkage.Task{ID: "x", Kind: "k"}))
	<-started
	stop()
	require.True(t, finished.Load(), "Consume returns after in-flight handlers return")
}
