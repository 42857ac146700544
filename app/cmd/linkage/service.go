package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/linkage-platform/linkage/app/histogram"
	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/ratelimit"
	"github.com/linkage-platform/linkage/app/tracing"
	"github.com/linkage-platform/linkage/app/worker"
)

// Flags and wiring shared by serve, worker and all-in-one.

func registerLogLevel(f *flags) *string {
	return f.String("log-level", "info", "log level: debug, info, warn or error")
}

// newLogger writes JSON logs to w.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(tracing.LogHandler{Handler: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})}), nil
}

func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), kernelInfo())
	return reg
}

type apiFlags struct {
	fault           *faultFlag
	addr            *string
	shutdownTimeout *time.Duration
	limits          struct {
		uploadBytes, uploadRecords *int64
		bodyBytes, tokenBytes      *int64
		parties, hashSize          *int
		blocksPerRecord, blockID   *int
		uploadsPerClient           *int
	}
	uploadTimeout, uploadIdle, bodyTimeout *time.Duration
	claimTimeout                           *time.Duration
	rateLimit, metricsRate                 *float64
	rateBurst                              *int
	forwardedFor                           *bool
}

func registerAPI(f *flags, fault *faultFlag) *apiFlags {
	a := &apiFlags{
		fault:           fault,
		addr:            f.String("addr", ":8851", "address the API listens on"),
		shutdownTimeout: f.Duration("shutdown-timeout", 30*time.Second, "how long in-flight requests may finish at shutdown"),
	}
	a.limits.uploadBytes = f.Int64("max-upload-bytes", 8<<30, "largest upload request body in bytes")
	a.limits.uploadRecords = f.Int64("max-upload-records", 50_000_000, "most CLKs in one upload")
	a.limits.parties = f.Int("max-parties", 100, "most parties of a project")
	a.limits.hashSize = f.Int("max-hash-size", 1024, "largest CLK in bytes (the reference allows 1..1024)")
	a.limits.bodyBytes = f.Int64("max-body-bytes", 1<<20, "largest JSON body of requests other than uploads")
	a.limits.tokenBytes = f.Int64("max-json-token-bytes", 64<<10, "longest string or number in a JSON upload (at least the base64 of --max-hash-size bytes)")
	a.limits.blocksPerRecord = f.Int("max-blocks-per-record", 100, "most blocks one record may belong to")
	a.limits.blockID = f.Int("max-block-id-bytes", 128, "longest block id in bytes")
	a.limits.uploadsPerClient = f.Int("max-uploads-per-client", 32, "uploads one client address may run at once (beyond: 429)")
	a.uploadTimeout = f.Duration("upload-timeout", time.Hour, "longest time an upload's body may take")
	a.claimTimeout = f.Duration("upload-claim-timeout", 0, "how long an unfinished upload holds its update token before a retry may take it over (0: --upload-timeout + 5m; shorter frees a dead upload's token sooner, and a live upload that loses its claim gets 409)")
	a.uploadIdle = f.Duration("upload-idle-timeout", 2*time.Minute, "longest time an upload may send nothing")
	a.bodyTimeout = f.Duration("body-timeout", 30*time.Second, "longest time the body of any other request may take")
	a.rateLimit = f.Float64("rate-limit", 200, "requests per second allowed per client address and per token (0: no limit); beyond it 503 with Retry-After")
	a.metricsRate = f.Float64("metrics-rate-limit", 1, "/metrics scrapes per second allowed per client address, burst 10 (0: no limit)")
	a.rateBurst = f.Int("rate-burst", 400, "requests a client may make at once above --rate-limit")
	a.forwardedFor = f.Bool("rate-limit-forwarded-for", false, "take the client address from the last X-Forwarded-For entry (only behind a load balancer that sets it)")
	return a
}

func (a *apiFlags) validate() error {
	var errs []error
	if *a.limits.uploadBytes <= 0 {
		errs = append(errs, errors.New("--max-upload-bytes must be positive"))
	}
	if *a.limits.bodyBytes <= 0 {
		errs = append(errs, errors.New("--max-body-bytes must be positive"))
	}
	if *a.limits.uploadRecords <= 0 {
		errs = append(errs, errors.New("--max-upload-records must be positive"))
	}
	if *a.limits.parties < 2 {
		errs = append(errs, errors.New("--max-parties must be at least 2"))
	}
	if *a.limits.hashSize < 8 {
		errs = append(errs, errors.New("--max-hash-size must be at least 8"))
	}
	if b64 := linkhttp.Base64Len(*a.limits.hashSize); *a.limits.tokenBytes < b64 {
		errs = append(errs, fmt.Errorf("--max-json-token-bytes must be at least %d, the base64 of a --max-hash-size CLK", b64))
	}
	if *a.limits.blocksPerRecord < 1 || *a.limits.blockID < 1 || *a.limits.uploadsPerClient < 1 {
		errs = append(errs, errors.New("--max-blocks-per-record, --max-block-id-bytes and --max-uploads-per-client must be positive"))
	}
	if *a.uploadTimeout <= 0 || *a.uploadIdle <= 0 || *a.bodyTimeout <= 0 {
		errs = append(errs, errors.New("--upload-timeout, --upload-idle-timeout and --body-timeout must be positive"))
	}
	if *a.claimTimeout < 0 {
		errs = append(errs, errors.New("--upload-claim-timeout must not be negative (0: --upload-timeout + 5m)"))
	}
	if *a.rateLimit < 0 || math.IsNaN(*a.rateLimit) || math.IsInf(*a.rateLimit, 0) {
		errs = append(errs, errors.New("--rate-limit must be a finite number ≥ 0"))
	}
	if *a.metricsRate < 0 || math.IsNaN(*a.metricsRate) || math.IsInf(*a.metricsRate, 0) {
		errs = append(errs, errors.New("--metrics-rate-limit must be a finite number ≥ 0"))
	}
	if *a.rateBurst < 1 {
		errs = append(errs, errors.New("--rate-burst must be at least 1"))
	}
	if err := a.fault.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// serverConfig is the API's configuration on p's backends; rate is the /status rate.
func (a *apiFlags) serverConfig(p *process, reg *prometheus.Registry, rate func() float64) linkhttp.Config {
	return linkhttp.Config{
		Store: p.db, Blobs: p.blobs, Scheduler: worker.Scheduler{Queue: p.queue}, Logger: p.log,
		Registry: reg, Version: version, RateLimit: a.rateLimiter(), Rate: rate,
		Limits: linkhttp.Limits{
			MaxUploadBytes: *a.limits.uploadBytes, MaxUploadRecords: *a.limits.uploadRecords,
			MaxParties: *a.limits.parties, MaxHashSize: *a.limits.hashSize, MaxBodyBytes: *a.limits.bodyBytes,
			MaxTokenBytes: *a.limits.tokenBytes, MaxBlocksPerRecord: *a.limits.blocksPerRecord, MaxBlockIDBytes: *a.limits.blockID,
			MaxUploadsPerClient: *a.limits.uploadsPerClient,
		},
		UploadTimeout: *a.uploadTimeout, UploadIdleTimeout: *a.uploadIdle, BodyTimeout: *a.bodyTimeout,
		UploadClaimTimeout: *a.claimTimeout,
		MetricsRate:        metricsRate(*a.metricsRate),
		ClientAddr:         func(r *http.Request) string { return ratelimit.ClientAddr(r, *a.forwardedFor) },
		Fault:              a.fault.hook(),
	}
}

// metricsRate maps the flag's 0 (no limit) to the server's (below 0).
func metricsRate(f float64) float64 {
	if f == 0 {
		return -1
	}
	return f
}

// rateLimiter is nil (no limit) when --rate-limit is 0.
func (a *apiFlags) rateLimiter() *ratelimit.Limiter {
	return ratelimit.New(ratelimit.Config{Rate: *a.rateLimit, Burst: *a.rateBurst, ForwardedFor: *a.forwardedFor})
}

// serveHTTP serves h on addr until ctx is done, then shuts down gracefully.
func serveHTTP(ctx context.Context, log *slog.Logger, addr string, h http.Handler, shutdownTimeout time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("API listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

type workerFlags struct {
	concurrency, compareWorkers, maxAttempts, chunkWindow *int
	chunkComparisons, maxSolver, maxScore                 *int64
	maxChunkCandidates                                    *int64
	reconcile, grace                                      *time.Duration
	histFloor                                             *float64
	histSample                                            *int64
	fault                                                 *faultFlag
}

func registerWorker(f *flags, fault *faultFlag) *workerFlags {
	return &workerFlags{
		fault:              fault,
		concurrency:        f.Int("concurrency", runtime.GOMAXPROCS(0), "tasks run at once (default: GOMAXPROCS, i.e. the CPU limit)"),
		compareWorkers:     f.Int("compare-workers", 0, "goroutines comparing one chunk (0: GOMAXPROCS)"),
		chunkComparisons:   f.Int64("chunk-comparisons", 200_000_000, "comparisons per chunk of a run (about 1–3 s of work)"),
		chunkWindow:        f.Int("chunk-window", 1000, "most chunks of one run planned and not done (database rows and queue entries); more are planned as chunks finish"),
		maxAttempts:        f.Int("max-attempts", 5, "attempts at a chunk or at solving before the run fails"),
		maxSolver:          f.Int64("max-solver-pairs", 100_000_000, "most candidate pairs for groups and permutations results"),
		maxScore:           f.Int64("max-score-pairs", 500_000_000, "most candidate pairs for similarity_scores results"),
		maxChunkCandidates: f.Int64("max-chunk-candidates", 5_000_000, "most candidate pairs one chunk may hold (24 bytes each, twice at the peak); a chunk finding more fails its run"),
		reconcile:          f.Duration("reconcile-interval", 15*time.Second, "how often unfinished runs are checked for lost work"),
		grace:              f.Duration("shutdown-grace", 30*time.Second, "how long running tasks may finish at shutdown before they are handed back"),
		histFloor:          f.Float64("histogram-floor", histogram.DefaultFloor, "lowest score in the histogram recorded with each run, 0 < floor < 1 (0: record none)"),
		histSample:         f.Int64("histogram-sample-pairs", 1_000_000, "pairs below the threshold scored per run for its histogram (more: exact for larger runs, slower)"),
	}
}

func (w *workerFlags) validate() error {
	var errs []error
	if *w.concurrency <= 0 {
		errs = append(errs, errors.New("--concurrency must be positive"))
	}
	if *w.compareWorkers < 0 {
		errs = append(errs, errors.New("--compare-workers must not be negative"))
	}
	if *w.chunkComparisons <= 0 {
		errs = append(errs, errors.New("--chunk-comparisons must be positive"))
	}
	if *w.chunkWindow <= 0 {
		errs = append(errs, errors.New("--chunk-window must be positive"))
	}
	if *w.maxAttempts <= 0 {
		errs = append(errs, errors.New("--max-attempts must be positive"))
	}
	if *w.maxSolver <= 0 || *w.maxScore <= 0 || *w.maxChunkCandidates <= 0 {
		errs = append(errs, errors.New("--max-solver-pairs, --max-score-pairs and --max-chunk-candidates must be positive"))
	}
	if *w.histFloor < 0 || *w.histFloor >= 1 || math.IsNaN(*w.histFloor) {
		errs = append(errs, errors.New("--histogram-floor must be in [0, 1)"))
	}
	if *w.histSample <= 0 {
		errs = append(errs, errors.New("--histogram-sample-pairs must be positive"))
	}
	if *w.reconcile <= 0 || *w.grace <= 0 {
		errs = append(errs, errors.New("--reconcile-interval and --shutdown-grace must be positive"))
	}
	if err := w.fault.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// open validates the flags, opens the process of a command that runs workers (migrating the
// database and allowing the in-process queue if it serves the API too) and creates its workers,
// counting into a new metrics registry.
func (w *workerFlags) open(ctx context.Context, pf *processFlags, stderr io.Writer, role string, withAPI bool) (*process, *worker.Worker, *prometheus.Registry, error) {
	if err := w.validate(); err != nil {
		return nil, nil, nil, err
	}
	p, err := pf.open(ctx, stderr, role, withAPI, withAPI)
	if err != nil {
		return nil, nil, nil, err
	}
	reg := newRegistry()
	return p, worker.New(p.db, p.blobs, p.queue, p.log, reg, w.config()), reg, nil
}

func (w *workerFlags) config() worker.Config {
	return worker.Config{
		Concurrency: *w.concurrency, CompareWorkers: *w.compareWorkers, ChunkComparisons: *w.chunkComparisons,
		ChunkWindow: *w.chunkWindow, MaxAttempts: *w.maxAttempts, MaxSolverPairs: *w.maxSolver, MaxScorePairs: *w.maxScore,
		MaxChunkCandidates: *w.maxChunkCandidates,
		ReconcileInterval:  *w.reconcile, ShutdownGrace: *w.grace,
		Histogram: worker.HistogramConfig{Floor: *w.histFloor, SamplePairs: *w.histSample},
		Fault:     w.fault.hook(),
	}
}

// Fault points a process may hold at with --fault-hold.
var (
	apiFaults    = []string{linkhttp.FaultUploadHalfWritten}
	workerFaults = worker.FaultPoints
)

// faultFlag is --fault-hold, shared by the API and the workers of a process.
type faultFlag struct {
	point  *string
	points []string // the fault points of the process
}

func registerFault(f *flags, points ...[]string) *faultFlag {
	all := slices.Concat(points...)
	return &faultFlag{points: all, point: f.String("fault-hold", "",
		"fault tests only: hold every upload or task reaching this fault point ("+strings.Join(all, ", ")+") until shutdown")}
}

func (h *faultFlag) validate() error {
	if *h.point != "" && !slices.Contains(h.points, *h.point) {
		return fmt.Errorf("--fault-hold %q: want one of %s", *h.point, strings.Join(h.points, ", "))
	}
	return nil
}

// hook is the fault hook of --fault-hold: uploads or tasks reaching the point wait there for
// shutdown (a fault test then kills or stops the process at a known step). Nil without the flag.
func (h *faultFlag) hook() func(context.Context, string, int) error {
	if h == nil || *h.point == "" {
		return nil
	}
	point := *h.point
	return func(ctx context.Context, p string, _ int) error {
		if p != point {
			return nil
		}
		<-ctx.Done()
		return ctx.Err()
	}
}
