// Package http serves the linkage API: the Anonlink Entity Service API v1 under /api/v1, plus
// /metrics, /healthz and /readyz. It stores through linkage.Store and linkage.BlobStore and
// hands queued runs to a Scheduler; it never computes linkages itself.
package http

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"path"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/ratelimit"
)

// Scheduler starts queued runs (app/worker.Scheduler).
type Scheduler interface {
	RunQueued(ctx context.Context, projectID, runID string) error
}

// Limits bound what clients may send; each is named in the problem answering a breach.
type Limits struct {
	MaxUploadBytes   int64 // max-upload-bytes: bytes of one upload request body
	MaxUploadRecords int64 // max-upload-records: CLKs of one upload
	MaxParties       int   // max-parties: number_parties of a project
	MaxHashSize      int   // max-hash-size: bytes per CLK
	MaxBodyBytes     int64 // max-body-bytes: bytes of other JSON request bodies
	// MaxTokenBytes (max-json-token-bytes) bounds one string or number of a JSON upload, checked
	// as the bytes arrive; it must hold the base64 of a CLK of MaxHashSize bytes.
	MaxTokenBytes int64
	// MaxBlocksPerRecord (max-blocks-per-record) and MaxBlockIDBytes (max-block-id-bytes) bound
	// the blocks of one record, so that the rows of a chunk keep their blocks in bounded memory.
	MaxBlocksPerRecord int
	MaxBlockIDBytes    int
	// MaxUploadsPerClient (max-uploads-per-client) bounds the uploads one client address runs
	// at once; beyond it 429.
	MaxUploadsPerClient int
}

// Base64Len is the length of the standard (padded) base64 of n bytes.
func Base64Len(n int) int64 { return int64(n+2) / 3 * 4 }

func (l *Limits) defaults() {
	if l.MaxUploadBytes <= 0 {
		l.MaxUploadBytes = 8 << 30
	}
	if l.MaxUploadRecords <= 0 {
		l.MaxUploadRecords = 50_000_000
	}
	if l.MaxParties <= 0 {
		l.MaxParties = 100
	}
	if l.MaxHashSize <= 0 {
		l.MaxHashSize = 1024
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 1 << 20
	}
	if l.MaxTokenBytes <= 0 {
		l.MaxTokenBytes = max(64<<10, Base64Len(l.MaxHashSize))
	}
	if l.MaxBlocksPerRecord <= 0 {
		l.MaxBlocksPerRecord = 100
	}
	if l.MaxBlockIDBytes <= 0 {
		l.MaxBlockIDBytes = 128
	}
	if l.MaxUploadsPerClient <= 0 {
		l.MaxUploadsPerClient = 32
	}
}

// Config wires a Server.
type Config struct {
	Store     linkage.Store
	Blobs     linkage.BlobStore
	Scheduler Scheduler
	Logger    *slog.Logger
	Registry  *prometheus.Registry // metrics are registered here and served at /metrics
	Limits    Limits
	Version   string // the service version reported by /version
	// Rate is the recent comparisons per second (app/rate: the in-process workers' Meter, or
	// in an API-only process a Sampler of the database), served as the /status rate and the
	// linkage_comparison_rate metric. Nil reports 0: no workers are measured.
	Rate func() float64
	// RateLimit admits requests (app/ratelimit); a refused one gets 503 with Retry-After.
	// Probes and /metrics are not limited by it. Nil admits everything.
	RateLimit interface {
		Check(r *http.Request) (retryAfter time.Duration, ok bool)
	}
	// UploadTimeout bounds an upload's body (default 1h), UploadIdleTimeout the time without a
	// byte of it (default 2m), BodyTimeout the body of any other request (default 30s).
	UploadTimeout, UploadIdleTimeout, BodyTimeout time.Duration
	// UploadClaimTimeout is how long an unfinished upload holds its update token before another
	// upload with the token may take over (the first one's process died or stalled). Default
	// UploadTimeout plus 5 minutes, so that a live upload's claim is never taken over; a
	// shorter one frees a dead upload's token sooner, and a live upload that loses its claim
	// is refused with 409 when it ends (the retry's upload is the one recorded).
	UploadClaimTimeout time.Duration
	// MetricsRate is the /metrics scrapes per second allowed per client address (burst 10;
	// default 1; below 0 unlimited): Prometheus scrapes every few seconds, a flood is refused
	// with 503.
	MetricsRate float64
	// ClientAddr names the client of a request for per-client limits (default: the connection's
	// address).
	ClientAddr func(*http.Request) string
	// Fault, when set, is called at each fault point (FaultUploadHalfWritten with the party):
	// fault tests block an upload there, or make it fail with the error returned, instead of
	// relying on timing.
	Fault func(ctx context.Context, point string, party int) error
}

// Server is the API.
type Server struct {
	cfg     Config
	store   linkage.Store
	blobs   linkage.BlobStore
	log     *slog.Logger
	metrics *metrics
	handler http.Handler
	uploads *clientUploads
	now     func() time.Time
}

// New returns the API server.
func New(cfg Config) *Server {
	cfg.Limits.defaults()
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.UploadTimeout <= 0 {
		cfg.UploadTimeout = time.Hour
	}
	if cfg.UploadIdleTimeout <= 0 {
		cfg.UploadIdleTimeout = 2 * time.Minute
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 30 * time.Second
	}
	if cfg.UploadClaimTimeout <= 0 {
		cfg.UploadClaimTimeout = cfg.UploadTimeout + 5*time.Minute
	}
	if cfg.Rate == nil {
		cfg.Rate = func() float64 { return 0 }
	}
	if cfg.MetricsRate == 0 {
		cfg.MetricsRate = 1
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = func(r *http.Request) string { return ratelimit.ClientAddr(r, false) }
	}
	s := &Server{cfg: cfg, store: cfg.Store, blobs: cfg.Blobs, log: cfg.Logger, now: time.Now,
		uploads: &clientUploads{max: cfg.Limits.MaxUploadsPerClient, n: map[string]int{}}}
	s.metrics = newMetrics(cfg.Registry, cfg.Store, cfg.Rate)
	mux := http.NewServeMux()
	s.routes(mux, promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry}))
	s.handler = s.middleware(mux)
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

func (s *Server) routes(mux *http.ServeMux, metrics http.Handler) {
	const v1 = "/api/v1"
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		method, p, _ := strings.Cut(pattern, " ")
		mux.Handle(method+" "+v1+p, s.route(method+" "+p, h))
	}
	handle("GET /status", s.getStatus)
	handle("GET /version", s.getVersion)
	handle("GET /projects", s.listProjects)
	handle("POST /projects", s.createProject)
	handle("GET /projects/{pid}", s.getProject)
	handle("DELETE /projects/{pid}", s.deleteProject)
	handle("GET /projects/{pid}/authorize-external-upload", s.authorizeExternalUpload)
	handle("POST /projects/{pid}/clks", s.uploadCLKs)
	handle("POST /projects/{pid}/binaryclks", s.uploadBinary)
	handle("GET /projects/{pid}/runs", s.listRuns)
	handle("POST /projects/{pid}/runs", s.createRun)
	handle("GET /projects/{pid}/runs/{rid}", s.getRun)
	handle("DELETE /projects/{pid}/runs/{rid}", s.deleteRun)
	handle("GET /projects/{pid}/runs/{rid}/status", s.getRunStatus)
	handle("GET /projects/{pid}/runs/{rid}/result", s.getRunResult)
	handle("GET /projects/{pid}/runs/{rid}/histogram", s.getRunHistogram)
	mux.Handle("GET /metrics", s.limitMetrics(metrics))
	mux.Handle("GET /healthz", s.route("GET /healthz", func(w http.ResponseWriter, r *http.Request) error {
		return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}))
	mux.Handle("GET /readyz", s.route("GET /readyz", s.readyz))
}

// route wraps an error-returning handler: the error becomes a problem response.
func (s *Server) route(name string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setRoute(r, name)
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// cleanPath collapses repeated slashes and dot segments and drops a trailing slash, so that
// loosely joined client URLs route without the redirect ServeMux would answer (a 301 turns a
// POST into a GET).
func cleanPath(p string) string {
	return path.Clean("/" + p)
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return problemf(http.StatusServiceUnavailable, "Not ready", "database: %v", err)
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	n, err := s.store.CountProjects(r.Context())
	if err != nil {
		return err
	}
	// An integer, as the reference reports it (clients parse it as one).
	return writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "project_count": n, "rate": int64(math.Round(s.cfg.Rate()))})
}

func (s *Server) getVersion(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{
		"anonlink":      "linkage-engine " + s.cfg.Version + " (kernel " + engine.KernelName() + ")",
		"entityservice": s.cfg.Version,
		"python":        "none (Go implementation)",
		"go":            runtime.Version(),
	})
}

// limitMetrics admits MetricsRate scrapes per second per client address.
func (s *Server) limitMetrics(h http.Handler) http.Handler {
	l := ratelimit.New(ratelimit.Config{Rate: max(s.cfg.MetricsRate, 0), Burst: 10})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l != nil {
			if wait, ok := l.Check(r); !ok {
				w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(wait)))
				s.writeProblem(w, r, problem{Status: http.StatusServiceUnavailable, Title: "Rate limited",
					Detail: fmt.Sprintf("more than %g scrapes per second from this client; retry after %s", s.cfg.MetricsRate, wait.Round(time.Millisecond))})
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
