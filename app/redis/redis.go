// Package redis is the task queue on Redis (or Valkey, ElastiCache): linkage.Queue on a Redis
// stream with a consumer group, through go-redis.
//
// Why streams rather than asynq: asynq's lease is fixed at 30 s and its recoverer looks for
// expired leases once a minute with 30 s of slack, so a chunk of a SIGKILLed worker would wait up
// to two minutes, which is not configurable; and asynq keeps a failed task's ID reserved in its
// archive, so the reconciler could not enqueue it again. A consumer group gives at-least-once
// delivery and visibility timeouts (XAUTOCLAIM of entries idle longer than the timeout) in a few
// commands we control, and every state change below is one Lua script, so atomic.
//
// Layout under the key prefix P:
//
//	P:stream        stream of deliveries (fields id, kind, payload); consumer group "workers"
//	P:task:<id>     hash: the live task with this ID (kind, payload, msg = its stream entry,
//	                attempts); its existence makes Enqueue of the ID a no-op
//	P:delayed       sorted set of task IDs waiting for a retry, scored by due time (ms)
//
// A running handler keeps its entry's idle time low with a heartbeat (XCLAIM by the owner);
// an entry idle longer than the visibility timeout belonged to a dead worker and is claimed by
// another. If Redis loses its data (a restart without persistence), in-flight results are still
// acknowledged harmlessly and the reconciler re-enqueues what is missing.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/periodic"
)

// Options tune the queue; zero values take the defaults.
type Options struct {
	// KeyPrefix namespaces the keys (default "linkage"), so deployments can share a server.
	KeyPrefix string
	// VisibilityTimeout is how long a task whose worker stopped heartbeating stays invisible
	// before another worker takes it (default 30 s).
	VisibilityTimeout time.Duration
	// MaxAttempts bounds the runs of a task (failures and worker deaths); then it is dropped
	// and logged (default 5).
	MaxAttempts int
	// RetryBase is the first retry's back-off; each further retry doubles it, up to RetryMax
	// (defaults 1 s and 1 min), with ±25 % jitter.
	RetryBase, RetryMax time.Duration
	// Logger receives dropped tasks and Redis errors (default slog.Default()).
	Logger *slog.Logger
	// Dropped, when set, is called once for each task this consumer gives up (after MaxAttempts
	// failures or worker deaths), with the attempts made: the observable end of its retries.
	Dropped func(t linkage.Task, attempts int)
}

func (o *Options) setDefaults() {
	if o.KeyPrefix == "" {
		o.KeyPrefix = "linkage"
	}
	if o.VisibilityTimeout <= 0 {
		o.VisibilityTimeout = 30 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// ParseURL splits a queue URL into the Redis client's options and the queue's: a go-redis URL
// (redis://[user:password@]host:port/db, rediss:// for TLS) with the queue's own parameters
// key-prefix, visibility-timeout, max-attempts, retry-base and retry-max.
func ParseURL(raw string) (*goredis.Options, Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, Options{}, fmt.Errorf("redis URL: %w", err)
	}
	var o Options
	q := u.Query()
	durations := map[string]*time.Duration{
		"visibility-timeout": &o.VisibilityTimeout,
		"retry-base":         &o.RetryBase,
		"retry-max":          &o.RetryMax,
	}
	for name, dst := range durations {
		if v := q.Get(name); v != "" {
			if *dst, err = time.ParseDuration(v); err != nil || *dst <= 0 {
				return nil, Options{}, fmt.Errorf("redis URL: %s=%q: want a positive duration like 30s", name, v)
			}
		}
		q.Del(name)
	}
	if v := q.Get("max-attempts"); v != "" {
		if o.MaxAttempts, err = strconv.Atoi(v); err != nil || o.MaxAttempts < 1 {
			return nil, Options{}, fmt.Errorf("redis URL: max-attempts=%q: want a positive integer", v)
		}
	}
	q.Del("max-attempts")
	o.KeyPrefix = q.Get("key-prefix")
	q.Del("key-prefix")
	u.RawQuery = q.Encode()
	ro, err := goredis.ParseURL(u.String())
	if err != nil {
		return nil, Options{}, fmt.Errorf("redis URL: %w", err)
	}
	if ro.PoolSize == 0 {
		// Every consuming slot holds a connection in a blocking read: leave room beyond
		// go-redis's default (10 per CPU) for heartbeats and enqueues at high --concurrency.
		ro.PoolSize = max(64, 10*runtime.GOMAXPROCS(0))
	}
	return ro, o, nil
}

// Queue implements linkage.Queue.
type Queue struct {
	rdb                    *goredis.Client
	opts                   Options
	stream, delayed, group string
	consumer               string
	// polled, when set (tests), is called after each poll for a task with the time it began:
	// the signal that this consumer had its chance to take what was due by then.
	polled func(began time.Time)
}

var _ linkage.Queue = (*Queue)(nil)

// Open returns the queue on the Redis at rawURL (see ParseURL), logging to log. It does not
// connect yet: a worker started while Redis is down waits for it in Consume.
func Open(rawURL string, log *slog.Logger) (*Queue, error) {
	ro, o, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	o.Logger = log
	return New(goredis.NewClient(ro), o), nil
}

// New returns the queue on an existing client.
func New(rdb *goredis.Client, o Options) *Queue {
	o.setDefaults()
	host, _ := os.Hostname()
	return &Queue{
		rdb:      rdb,
		opts:     o,
		stream:   o.KeyPrefix + ":stream",
		delayed:  o.KeyPrefix + ":delayed",
		group:    "workers",
		consumer: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), linkage.NewID()[:8]),
	}
}

// Ping checks Redis answers (readiness).
func (q *Queue) Ping(ctx context.Context) error {
	if err := q.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Close closes the client.
func (q *Queue) Close() error { return q.rdb.Close() }

func (q *Queue) taskKey(id string) string { return q.opts.KeyPrefix + ":task:" + id }

// enqueueScript: KEYS task, stream; ARGV id, kind, payload. Returns 1 if added, 0 if the ID
// is already live.
var enqueueScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local msg = redis.call('XADD', KEYS[2], '*', 'id', ARGV[1], 'kind', ARGV[2], 'payload', ARGV[3])
redis.call('HSET', KEYS[1], 'kind', ARGV[2], 'payload', ARGV[3], 'msg', msg, 'attempts', 0)
return 1`)

// Enqueue adds the task unless a task with its ID is pending, waiting for a retry or running.
func (q *Queue) Enqueue(ctx context.Context, t linkage.Task) error {
	if t.ID == "" {
		return fmt.Errorf("redis: enqueue: task without ID: %w", linkage.ErrInvalid)
	}
	if err := enqueueScript.Run(ctx, q.rdb, []string{q.taskKey(t.ID), q.stream}, t.ID, t.Kind, t.Payload).Err(); err != nil {
		return fmt.Errorf("redis: enqueue %s: %w", t.ID, err)
	}
	return nil
}

// startScript: KEYS task, stream; ARGV group, msg, reclaimed (0|1), max attempts.
// Returns 1 to run the task, 0 if the entry is stale (its task was finished, dropped or
// enqueued anew), -n if a reclaimed task reached n attempts and was dropped.
var startScript = goredis.NewScript(`
if redis.call('HGET', KEYS[1], 'msg') ~= ARGV[2] then
  redis.pcall('XACK', KEYS[2], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[2], ARGV[2])
  return 0
end
if ARGV[3] == '1' then
  local n = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
  if n >= tonumber(ARGV[4]) then
    redis.pcall('XACK', KEYS[2], ARGV[1], ARGV[2])
    redis.call('XDEL', KEYS[2], ARGV[2])
    redis.call('DEL', KEYS[1])
    return -n
  end
end
return 1`)

// finishScript: KEYS task, stream; ARGV group, msg. Acknowledges the entry and ends the task
// if the entry is still its live one.
var finishScript = goredis.NewScript(`
redis.pcall('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
if redis.call('HGET', KEYS[1], 'msg') == ARGV[2] then redis.call('DEL', KEYS[1]) end
return 1`)

// retryScript: KEYS task, stream, delayed; ARGV group, msg, id, max attempts, due (ms), and
// 1 to count an attempt (a failure) or 0 (a task handed back at shutdown, due now). Returns the
// attempts so far, negated if the task was dropped, 0 if the entry was stale.
var retryScript = goredis.NewScript(`
redis.pcall('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[2], ARGV[2])
if redis.call('HGET', KEYS[1], 'msg') ~= ARGV[2] then return 0 end
local n = tonumber(redis.call('HGET', KEYS[1], 'attempts'))
if ARGV[6] == '1' then n = redis.call('HINCRBY', KEYS[1], 'attempts', 1) end
if n >= tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[1])
  return -n
end
redis.call('HSET', KEYS[1], 'msg', '')
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
return n`)

// promoteScript: KEYS delayed, stream; ARGV now (ms), key prefix of tasks. Moves due retries
// back into the stream.
var promoteScript = goredis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[2] .. id
  local t = redis.call('HMGET', key, 'kind', 'payload')
  if t[1] then
    local msg = redis.call('XADD', KEYS[2], '*', 'id', id, 'kind', t[1], 'payload', t[2])
    redis.call('HSET', key, 'msg', msg)
  end
end
return #ids`)

// heartbeatScript: KEYS stream; ARGV group, consumer, msg. Resets the entry's idle time if
// this consumer still owns it and returns 1 (never takes it back from a worker that reclaimed
// it: returns 0); returns 2 if the entry is gone (Redis lost its data).
var heartbeatScript = goredis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if not p[1] then return 2 end
if p[1][2] == ARGV[2] then
  redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
  return 1
end
return 0`)

// ensureGroup creates the stream and its consumer group if missing (first use, or Redis lost
// its data).
func (q *Queue) ensureGroup(ctx context.Context) error {
	err := q.rdb.XGroupCreateMkStream(ctx, q.stream, q.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("redis: create consumer group: %w", err)
	}
	return nil
}

// delivery is one stream entry taken by this consumer.
type delivery struct {
	msg       string
	task      linkage.Task
	reclaimed bool // taken over from a worker that stopped heartbeating
}

func parseEntry(m goredis.XMessage) (linkage.Task, bool) {
	id, ok1 := m.Values["id"].(string)
	kind, ok2 := m.Values["kind"].(string)
	payload, ok3 := m.Values["payload"].(string)
	return linkage.Task{ID: id, Kind: kind, Payload: []byte(payload)}, ok1 && ok2 && ok3
}

// pollBlock bounds how long an idle worker waits in Redis before looking at its context again.
const pollBlock = 500 * time.Millisecond

// next returns the next delivery: first an entry of a dead worker, else a new one (waiting up
// to pollBlock). nil without error means nothing to do.
// cursor is where the scan for dead workers' entries goes on (XAUTOCLAIM looks at a bounded
// number of pending entries per call).
func (q *Queue) next(ctx context.Context, cursor *string) (*delivery, error) {
	msgs, start, err := q.rdb.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
		Stream: q.stream, Group: q.group, Consumer: q.consumer,
		MinIdle: q.opts.VisibilityTimeout, Start: *cursor, Count: 1,
	}).Result()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, err
	}
	*cursor = start
	if start == "" {
		*cursor = "0-0"
	}
	reclaimed := len(msgs) > 0
	if !reclaimed {
		streams, err := q.rdb.XReadGroup(ctx, &goredis.XReadGroupArgs{
			Group: q.group, Consumer: q.consumer, Streams: []string{q.stream, ">"},
			Count: 1, Block: pollBlock,
		}).Result()
		if errors.Is(err, goredis.Nil) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		for _, s := range streams {
			msgs = append(msgs, s.Messages...)
		}
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	m := msgs[0]
	t, ok := parseEntry(m)
	if !ok {
		// Not written by Enqueue: drop it rather than fail on it forever.
		q.opts.Logger.Error("queue: malformed stream entry dropped", "entry", m.ID)
		q.rdb.XAck(ctx, q.stream, q.group, m.ID)
		q.rdb.XDel(ctx, q.stream, m.ID)
		return nil, nil
	}
	return &delivery{msg: m.ID, task: t, reclaimed: reclaimed}, nil
}

// Consume runs h on tasks with the given parallelism until ctx is done, then takes no new task
// and returns nil once the running handlers have returned. Handlers do not see ctx end: the
// caller bounds them at shutdown (the worker's grace period) and a task whose handler fails
// after ctx ended is handed back to the queue at once, not counted as a failure. A handler's
// context is cancelled if another worker took its task over (it missed heartbeats).
func (q *Queue) Consume(ctx context.Context, concurrency int, h func(context.Context, linkage.Task) error) error {
	if concurrency < 1 {
		return fmt.Errorf("redis: consume: concurrency %d: %w", concurrency, linkage.ErrInvalid)
	}
	// Redis calls outlive ctx so that a finished task is still acknowledged during shutdown.
	bg := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { q.promoteLoop(ctx) })
	for range concurrency {
		wg.Go(func() { q.slot(ctx, bg, h) })
	}
	wg.Wait()
	q.dropConsumer(bg)
	return nil
}

// slot takes and runs one task at a time until ctx is done.
func (q *Queue) slot(ctx, bg context.Context, h func(context.Context, linkage.Task) error) {
	backoff := newBackoff(100*time.Millisecond, 5*time.Second)
	groupChecked := false
	cursor := "0-0"
	for ctx.Err() == nil {
		if !groupChecked {
			if err := q.ensureGroup(bg); err != nil {
				q.redisDown(ctx, backoff, err)
				continue
			}
			groupChecked = true
		}
		began := time.Now()
		d, err := q.next(bg, &cursor)
		if q.polled != nil {
			q.polled(began)
		}
		if err != nil {
			if strings.HasPrefix(err.Error(), "NOGROUP") {
				groupChecked = false // Redis lost its data: recreate the group
			}
			q.redisDown(ctx, backoff, err)
			continue
		}
		backoff.reset()
		if d != nil {
			q.run(ctx, bg, d, h)
		}
	}
}

// redisDown logs a Redis error and waits before trying again (or until ctx is done).
func (q *Queue) redisDown(ctx context.Context, b *backoff, err error) {
	d := b.next()
	q.opts.Logger.Warn("queue: redis unavailable, retrying", "err", err, "in", d)
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// run executes one delivery with a heartbeat and records its outcome; ctx is Consume's.
func (q *Queue) run(ctx, bg context.Context, d *delivery, h func(context.Context, linkage.Task) error) {
	log := q.opts.Logger.With("task", d.task.ID, "kind", d.task.Kind)
	keys := []string{q.taskKey(d.task.ID), q.stream}
	reclaimed := 0
	if d.reclaimed {
		reclaimed = 1
		log.Warn("queue: taking over a task whose worker stopped", "visibility_timeout", q.opts.VisibilityTimeout)
	}
	n, err := startScript.Run(bg, q.rdb, keys, q.group, d.msg, reclaimed, q.opts.MaxAttempts).Int()
	if err != nil {
		log.Warn("queue: start task", "err", err) // the entry stays pending and is reclaimed later
		return
	}
	if n == 0 {
		return
	}
	if n < 0 {
		log.Error("queue: task dropped: its workers died too often", "attempts", -n)
		q.dropped(d.task, -n)
		return
	}

	taskCtx, cancelTask := context.WithCancel(bg)
	defer cancelTask()
	hbCtx, stopHeartbeat := context.WithCancel(bg)
	var hb sync.WaitGroup
	var lost atomic.Bool
	hb.Go(func() {
		if !q.heartbeat(hbCtx, d.msg, log) {
			lost.Store(true)
			cancelTask()
		}
	})
	herr := safeCall(taskCtx, d.task, h, log)
	stopHeartbeat()
	hb.Wait()

	if herr != nil && lost.Load() {
		return // the worker that took the task over records its outcome
	}
	if herr == nil {
		if err := finishScript.Run(bg, q.rdb, keys, q.group, d.msg).Err(); err != nil {
			log.Warn("queue: acknowledge task (it may run again)", "err", err)
		}
		return
	}
	handBack := ctx.Err() != nil
	due := time.Now()
	if !handBack {
		attempts, _ := q.rdb.HGet(bg, q.taskKey(d.task.ID), "attempts").Int()
		due = due.Add(retryDelay(q.opts.RetryBase, q.opts.RetryMax, attempts+1))
	}
	count := 1
	if handBack {
		count = 0
	}
	rkeys := append(keys, q.delayed)
	n, err = retryScript.Run(bg, q.rdb, rkeys, q.group, d.msg, d.task.ID, q.opts.MaxAttempts, due.UnixMilli(), count).Int()
	switch {
	case err != nil:
		log.Warn("queue: reschedule task (it is reclaimed after the visibility timeout)", "err", err, "handler_err", herr)
	case handBack:
		log.Info("queue: task handed back at shutdown", "handler_err", herr)
	case n < 0:
		log.Error("queue: task dropped after repeated failures", "attempts", -n, "err", herr)
		q.dropped(d.task, -n)
	case n > 0:
		log.Warn("queue: task failed, will retry", "attempt", n, "retry_at", due, "err", herr)
	}
}

func (q *Queue) dropped(t linkage.Task, attempts int) {
	if q.opts.Dropped != nil {
		q.opts.Dropped(t, attempts)
	}
}

// safeCall turns a handler panic into a failure, so one bad task does not kill the worker.
func safeCall(ctx context.Context, t linkage.Task, h func(context.Context, linkage.Task) error, log *slog.Logger) (err error) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("queue: task handler panicked", "panic", r)
			err = fmt.Errorf("task handler panicked: %v", r)
		}
	}()
	return h(ctx, t)
}

// heartbeat keeps the entry's idle time below the visibility timeout while its handler runs
// (until ctx is done). It returns false if another worker took the entry over. If Redis lost
// the entry, the handler runs to its end (its result is still good) without heartbeats.
func (q *Queue) heartbeat(ctx context.Context, msg string, log *slog.Logger) bool {
	t := time.NewTicker(q.opts.VisibilityTimeout / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-t.C:
			owned, err := heartbeatScript.Run(ctx, q.rdb, []string{q.stream}, q.group, q.consumer, msg).Int()
			if err != nil && ctx.Err() == nil {
				log.Warn("queue: heartbeat", "err", err)
			} else if err == nil && owned == 0 {
				log.Warn("queue: task taken over by another worker after missed heartbeats")
				return false
			} else if err == nil && owned == 2 {
				log.Warn("queue: task's entry lost by Redis; finishing it anyway")
				return true
			}
		}
	}
}

// promoteLoop moves due retries back into the stream until ctx is done.
func (q *Queue) promoteLoop(ctx context.Context) {
	every := min(max(q.opts.RetryBase/4, 10*time.Millisecond), time.Second)
	periodic.Every(ctx, every, func() {
		err := promoteScript.Run(ctx, q.rdb, []string{q.delayed, q.stream}, time.Now().UnixMilli(), q.opts.KeyPrefix+":task:").Err()
		if err != nil && ctx.Err() == nil {
			q.opts.Logger.Debug("queue: promote retries", "err", err)
		}
	})
}

// dropConsumer removes this consumer from the group once it holds no entries, so that the
// group does not list every worker that ever ran.
func (q *Queue) dropConsumer(ctx context.Context) {
	pending, err := q.rdb.XPendingExt(ctx, &goredis.XPendingExtArgs{
		Stream: q.stream, Group: q.group, Consumer: q.consumer, Start: "-", End: "+", Count: 1,
	}).Result()
	if err == nil && len(pending) == 0 {
		q.rdb.XGroupDelConsumer(ctx, q.stream, q.group, q.consumer)
	}
}

// retryDelay is the back-off after the given number of failed attempts: base·2^(n-1), capped,
// with ±25 % jitter so that tasks failing together do not retry together.
func retryDelay(base, maxDelay time.Duration, attempts int) time.Duration {
	d := base
	for i := 1; i < attempts && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}

// backoff paces reconnection attempts.
type backoff struct{ cur, lo, hi time.Duration }

func newBackoff(lo, hi time.Duration) *backoff { return &backoff{cur: lo, lo: lo, hi: hi} }
func (b *backoff) reset()                      { b.cur = b.lo }
func (b *backoff) next() time.Duration {
	d := b.cur
	b.cur = min(b.cur*2, b.hi)
	return d
}
