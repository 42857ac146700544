package http

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/ratelimit"
	"github.com/linkage-platform/linkage/app/tracing"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyRoute
)

// requestID is the id of the request, also in the X-Request-Id response header and in every
// log line about it.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

func setRoute(r *http.Request, name string) {
	if p, ok := r.Context().Value(keyRoute).(*string); ok {
		*p = name
	}
}

// recorder remembers the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer (flushing, deadlines).
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// discard captures the status of a handler whose body is not wanted.
type discard struct {
	h      http.Header
	status int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.status = code }

// validRequestID accepts a client's X-Request-Id if it is short and printable.
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// middleware wraps the routes, outermost first: request id and clean path, tracing, metrics and
// the request log, panics, the rate limit, and the problem answer for unmatched paths.
func (s *Server) middleware(mux *http.ServeMux) http.Handler {
	return withRequestID(s.observe(s.recoverPanic(s.limit(mux, s.routeOrProblem(mux)))))
}

// withRequestID gives the request its id (the client's X-Request-Id if usable), a route label
// for the layers below to fill in, and a clean path.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = linkage.NewID()[:16]
		}
		route := "unmatched"
		r = r.WithContext(context.WithValue(context.WithValue(r.Context(), keyRequestID, id), keyRoute, &route))
		w.Header().Set("X-Request-Id", id)
		if p := cleanPath(r.URL.Path); p != r.URL.Path {
			r.URL.Path, r.URL.RawPath = p, ""
		}
		next.ServeHTTP(w, r)
	})
}

// routeOf is the route label withRequestID set up (filled in by route and limit).
func routeOf(r *http.Request) string {
	if p, ok := r.Context().Value(keyRoute).(*string); ok {
		return *p
	}
	return "unmatched"
}

// observe traces the request and, once it is answered, counts it in the metrics and logs it.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		r, endSpan := tracing.StartRequest(r)
		rec := &recorder{ResponseWriter: w}
		defer func() {
			d, route := time.Since(start), routeOf(r)
			s.metrics.requests.WithLabelValues(r.Method, route, strconv.Itoa(rec.status)).Inc()
			s.metrics.latency.WithLabelValues(r.Method, route).Observe(d.Seconds())
			level := slog.LevelInfo
			if route == "GET /healthz" || route == "GET /readyz" || r.URL.Path == "/metrics" {
				level = slog.LevelDebug // probes and scrapes every few seconds would drown the log
			}
			endSpan(route, rec.status)
			s.log.Log(r.Context(), level, "request", "request_id", requestID(r.Context()), "method", r.Method, "path", r.URL.Path,
				"route", route, "status", rec.status, "bytes", rec.bytes, "duration_ms", float64(d.Microseconds())/1000, "remote", r.RemoteAddr)
		}()
		next.ServeHTTP(rec, r)
	})
}

// recoverPanic logs a handler's panic and answers 500 if nothing was answered yet.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			id := requestID(r.Context())
			s.log.Error("panic serving request", "request_id", id, "panic", fmt.Sprint(v))
			if !headerWritten(w) {
				s.writeProblem(w, r, problem{Status: http.StatusInternalServerError, Title: "Internal Server Error",
					Detail: "unexpected error; see the server log for request " + id})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// limit answers 503 with Retry-After to a request the rate limit refuses.
func (s *Server) limit(mux *http.ServeMux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		wait, ok := s.admit(r, pattern)
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		setRoute(r, "rate_limited")
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(wait)))
		s.writeProblem(w, r, problem{Status: http.StatusServiceUnavailable, Title: "Rate limited",
			Detail: fmt.Sprintf("too many requests from this client or token; retry after %s", wait.Round(time.Millisecond))})
	})
}

// routeOrProblem serves the matching route, or answers the mux's 404 or 405 as a problem.
func (s *Server) routeOrProblem(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		d := &discard{h: http.Header{}}
		mux.ServeHTTP(d, r)
		if allow := d.h.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		status := d.status
		if status == 0 || status == http.StatusOK {
			status = http.StatusNotFound
		}
		s.writeProblem(w, r, problem{Status: status, Title: http.StatusText(status),
			Detail: fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)})
	})
}

// headerWritten is true once the response's status line is out (w is the observe recorder).
func headerWritten(w http.ResponseWriter) bool {
	rec, ok := w.(*recorder)
	return ok && rec.status != 0
}

// admit applies the rate limit to every request but the probes and /metrics, which Kubernetes
// and Prometheus poll and must always answer.
func (s *Server) admit(r *http.Request, pattern string) (time.Duration, bool) {
	if s.cfg.RateLimit == nil {
		return 0, true
	}
	switch pattern {
	case "GET /healthz", "GET /readyz", "GET /metrics":
		return 0, true
	}
	return s.cfg.RateLimit.Check(r)
}
