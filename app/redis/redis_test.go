package redis

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/linkage/queuetest"
)

// testQueue is a queue on the Redis named by LINKAGE_TEST_REDIS_URL under a fresh key prefix
// (deleted afterwards); the test is skipped without it.
func testQueue(t *testing.T, o Options) *Queue {
	t.Helper()
	raw := os.Getenv("LINKAGE_TEST_REDIS_URL")
	if raw == "" {
		t.Skip("LINKAGE_TEST_REDIS_URL not set (make services; eval \"$(make -s services-env)\")")
	}
	ro, _, err := ParseURL(raw)
	require.NoError(t, err)
	if o.KeyPrefix == "" {
		o.KeyPrefix = "linkage-test-" + linkage.NewID()[:12]
	}
	rdb := goredis.NewClient(ro)
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, o.KeyPrefix+":*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		rdb.Close()
	})
	return New(rdb, o)
}

func fast() Options {
	return Options{VisibilityTimeout: 2 * time.Second, MaxAttempts: 3, RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond}
}

func TestQueue(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, dropped func(linkage.Task, int)) linkage.Queue {
		o := fast()
		o.Dropped = dropped
		return testQueue(t, o)
	})
}

// consume runs Consume in the background until the returned stop is called.
func consume(t *testing.T, q *Queue, h func(context.Context, linkage.Task) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Consume(ctx, 1, h) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("Consume did not return")
		}
	}
}

// A task taken by a worker that then died (no heartbeat, no acknowledgement) is delivered to
// another worker after the visibility timeout.
func TestDeadWorkersTaskIsRetaken(t *testing.T) {
	o := fast()
	dead := testQueue(t, o)
	ctx := context.Background()
	require.NoError(t, dead.Enqueue(ctx, linkage.Task{ID: "chunk-1", Kind: "run.chunk", Payload: []byte(`{}`)}))
	require.NoError(t, dead.ensureGroup(ctx))
	cursor := "0-0"
	d, err := dead.next(ctx, &cursor)
	require.NoError(t, err)
	require.NotNil(t, d)
	require.Equal(t, "chunk-1", d.task.ID)
	// The dead worker never finishes; the task's ID stays taken meanwhile.
	require.NoError(t, dead.Enqueue(ctx, linkage.Task{ID: "chunk-1", Kind: "run.chunk"}))

	o.KeyPrefix = dead.opts.KeyPrefix
	live := testQueue(t, o)
	got := make(chan time.Time, 4)
	taken := time.Now()
	stop := consume(t, live, func(_ context.Context, task linkage.Task) error {
		require.Equal(t, "chunk-1", task.ID)
		got <- time.Now()
		return nil
	})
	defer stop()
	select {
	case at := <-got:
		require.GreaterOrEqual(t, at.Sub(taken), o.VisibilityTimeout, "not before the visibility timeout")
	case <-time.After(10 * time.Second):
		t.Fatal("the dead worker's task was not retaken")
	}
	select {
	case <-got:
		t.Fatal("delivered twice")
	case <-time.After(500 * time.Millisecond):
	}
}

// A handler running longer than the visibility timeout keeps its task (heartbeat).
func TestHeartbeatKeepsLongTask(t *testing.T) {
	o := fast()
	a := testQueue(t, o)
	o.KeyPrefix = a.opts.KeyPrefix
	b := testQueue(t, o)
	var runs atomic.Int32
	release := make(chan struct{})
	h := func(_ context.Context, _ linkage.Task) error {
		if runs.Add(1) == 1 {
			<-release // the first run lasts until b has had its chance
		}
		return nil
	}
	stopA := consume(t, a, h)
	require.NoError(t, a.Enqueue(context.Background(), linkage.Task{ID: "long", Kind: "k"}))
	require.Eventually(t, func() bool { return runs.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
	// b polls until one of its polls began twice the visibility timeout after the task started:
	// without heartbeats the task would have been idle long enough to be claimed by then.
	sig := newPollSignal()
	sig.arm(time.Now().Add(2 * o.VisibilityTimeout))
	b.polled = sig.hook
	stopB := consume(t, b, h)
	sig.wait(t)
	close(release)
	stopB()
	stopA()
	require.EqualValues(t, 1, runs.Load())
}

// A handler that fails after Consume's context ended (the worker cancelled it at the end of its
// grace period) hands its task back without counting a failure; another worker then runs it.
func TestShutdownHandsBack(t *testing.T) {
	o := fast()
	o.MaxAttempts = 1 // a counted failure would drop the task
	a := testQueue(t, o)
	o.KeyPrefix = a.opts.KeyPrefix
	b := testQueue(t, o)

	started, release := make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- a.Consume(ctx, 1, func(context.Context, linkage.Task) error {
			close(started)
			<-release
			return errors.New("interrupted")
		})
	}()
	require.NoError(t, a.Enqueue(context.Background(), linkage.Task{ID: "chunk", Kind: "run.chunk"}))
	<-started
	cancel()
	close(release)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Consume did not return")
	}

	ran := make(chan struct{})
	stopB := consume(t, b, func(context.Context, linkage.Task) error { close(ran); return nil })
	defer stopB()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("the handed-back task was not run by the next worker")
	}
}

// Consume waits for running handlers, whose context stays live, and acknowledges them.
func TestShutdownWaitsForHandlers(t *testing.T) {
	q := testQueue(t, fast())
	started := make(chan struct{})
	var finished atomic.Bool
	stop := consume(t, q, func(ctx context.Context, _ linkage.Task) error {
		close(started)
		time.Sleep(500 * time.Millisecond)
		finished.Store(ctx.Err() == nil)
		return nil
	})
	require.NoError(t, q.Enqueue(context.Background(), linkage.Task{ID: "t", Kind: "k"}))
	<-started
	stop()
	require.True(t, finished.Load())
	n, err := q.rdb.Exists(context.Background(), q.taskKey("t")).Result()
	require.NoError(t, err)
	require.Zero(t, n, "finished task is gone")
}

// An ID waiting for its retry is still taken: enqueueing it again is a no-op.
func TestDedupWhileWaitingForRetry(t *testing.T) {
	o := fast()
	o.RetryBase, o.RetryMax = time.Second, time.Second
	q := testQueue(t, o)
	var calls atomic.Int32
	stop := consume(t, q, func(context.Context, linkage.Task) error {
		if calls.Add(1) == 1 {
			return errors.New("transient")
		}
		return nil
	})
	defer stop()
	ctx := context.Background()
	require.NoError(t, q.Enqueue(ctx, linkage.Task{ID: "r", Kind: "k"}))
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, q.Enqueue(ctx, linkage.Task{ID: "r", Kind: "k"}))
	require.Eventually(t, func() bool { return calls.Load() == 2 }, 5*time.Second, 10*time.Millisecond)
	// Once the task is acknowledged and nothing is left in the stream or waiting for a retry,
	// no third run can come: a second entry from the repeated Enqueue would have run before.
	require.Eventually(t, func() bool {
		return q.rdb.Exists(ctx, q.taskKey("r")).Val() == 0 && q.rdb.XLen(ctx, q.stream).Val() == 0 &&
			q.rdb.ZCard(ctx, q.delayed).Val() == 0
	}, 5*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 2, calls.Load())
}

// When Redis loses its data (restart without persistence), consumers recreate the group and go
// on with new tasks.
func TestSurvivesDataLoss(t *testing.T) {
	q := testQueue(t, fast())
	got := make(chan string, 4)
	stop := consume(t, q, func(_ context.Context, task linkage.Task) error { got <- task.ID; return nil })
	defer stop()
	ctx := context.Background()
	require.NoError(t, q.Enqueue(ctx, linkage.Task{ID: "before", Kind: "k"}))
	require.Equal(t, "before", <-got)
	require.NoError(t, q.rdb.Del(ctx, q.stream).Err()) // the stream and its group are gone
	require.NoError(t, q.Enqueue(ctx, linkage.Task{ID: "after", Kind: "k"}))
	select {
	case id := <-got:
		require.Equal(t, "after", id)
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery after the group was lost")
	}
}

func TestParseURL(t *testing.T) {
	ro, o, err := ParseURL("redis://:secret@10.0.0.1:6380/2?visibility-timeout=45s&max-attempts=7&key-prefix=prod&retry-base=2s&retry-max=2m&dial_timeout=3s")
	require.NoError(t, err)
	require.Equal(t, "10.0.0.1:6380", ro.Addr)
	require.Equal(t, 2, ro.DB)
	require.Equal(t, "secret", ro.Password)
	require.Equal(t, 3*time.Second, ro.DialTimeout)
	require.Equal(t, Options{KeyPrefix: "prod", VisibilityTimeout: 45 * time.Second, MaxAttempts: 7, RetryBase: 2 * time.Second, RetryMax: 2 * time.Minute}, o)

	for raw, msg := range map[string]string{
		"redis://h:6379?visibility-timeout=soon": "visibility-timeout",
		"redis://h:6379?max-attempts=0":          "max-attempts",
		"redis://h:6379?colour=red":              "colour",
		"http://h":                               "redis URL",
	} {
		_, _, err := ParseURL(raw)
		require.ErrorContains(t, err, msg, raw)
	}
}

func TestRetryDelay(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 10: time.Minute} {
		d := retryDelay(time.Second, time.Minute, n)
		require.InDelta(t, float64(want), float64(d), float64(want)/4+1, "attempt %d", n)
	}
}

// A handler whose task another worker took over (this one missed its heartbeats, e.g. a long
// GC pause or a network partition) has its context cancelled and records no outcome.
func TestTakenOverHandlerIsCancelled(t *testing.T) {
	q := testQueue(t, fast())
	sig := newPollSignal()
	q.polled = sig.hook
	ctx := context.Background()
	started, cancelled := make(chan struct{}), make(chan struct{})
	stop := consume(t, q, func(hctx context.Context, _ linkage.Task) error {
		close(started)
		select {
		case <-hctx.Done():
			close(cancelled)
			return hctx.Err()
		case <-time.After(10 * time.Second):
			return nil
		}
	})
	defer stop()
	require.NoError(t, q.Enqueue(ctx, linkage.Task{ID: "t", Kind: "k"}))
	<-started
	pending, err := q.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{Stream: q.stream, Group: q.group, Start: "-", End: "+", Count: 1}).Result()
	require.NoError(t, err)
	require.Len(t, pending, 1)
	// Another worker claims the entry, as XAUTOCLAIM does after the visibility timeout.
	require.NoError(t, q.rdb.XClaim(ctx, &goredis.XClaimArgs{Stream: q.stream, Group: q.group, Consumer: "other", Messages: []string{pending[0].ID}}).Err())
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler of a task taken over was not cancelled")
	}
	// The slot is done with the task once it polls again.
	sig.arm(time.Now())
	sig.wait(t)
	n, err := q.rdb.Exists(ctx, q.taskKey("t")).Result()
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the task stays live for the worker that took it over")
}

// pollSignal is a Queue.polled hook: done closes once a poll began after the time armed.
type pollSignal struct {
	from atomic.Int64 // unix nanoseconds; 0: not armed
	done chan struct{}
	once sync.Once
}

func newPollSignal() *pollSignal { return &pollSignal{done: make(chan struct{})} }

func (p *pollSignal) hook(began time.Time) {
	if f := p.from.Load(); f != 0 && began.UnixNano() > f {
		p.once.Do(func() { close(p.done) })
	}
}

func (p *pollSignal) arm(t time.Time) { p.from.Store(t.UnixNano()) }

func (p *pollSignal) wait(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the consumer did not poll again")
	}
}
