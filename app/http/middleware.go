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

func (s *Server) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = linkage.NewID()[:16]
		}
		route := "unmatched"
		ctx := context.WithValue(context.WithValue(r.Context(), keyRequestID, id), keyRoute, &route)
		r = r.WithContext(ctx)
		w.Header().Set("X-Request-Id", id)
		if p := cleanPath(r.URL.Path); p != r.URL.Path {
			r.URL.Path, r.URL.RawPath = p, ""
		}
		r, endSpan := tracing.StartRequest(r)
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "request_id", id, "panic", fmt.Sprint(v))
				if rec.status == 0 {
					s.writeProblem(rec, r, problem{Status: http.StatusInternalServerError, Title: "Internal Server Error", Detail: "unexpected error; see the server log for request " + id})
				}
			}
			d := time.Since(start)
			code := strconv.Itoa(rec.status)
			s.metrics.requests.WithLabelValues(r.Method, route, code).Inc()
			s.metrics.latency.WithLabelValues(r.Method, route).Observe(d.Seconds())
			level := slog.LevelInfo
			if route == "GET /healthz" || route == "GET /readyz" || r.URL.Path == "/metrics" {
				level = slog.LevelDebug // probes and scrapes every few seconds would drown the log
			}
			endSpan(route, rec.status)
			s.log.Log(r.Context(), level, "request", "request_id", id, "method", r.Method, "path", r.URL.Path, "route", route,
				"status", rec.status, "bytes", rec.bytes, "duration_ms", float64(d.Microseconds())/1000, "remote", r.RemoteAddr)
		}()
		_, pattern := mux.Handler(r)
		if wait, ok := s.admit(r, pattern); !ok {
			route = "rate_limited"
			rec.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfterSeconds(wait)))
			s.writeProblem(rec, r, problem{Status: http.StatusServiceUnavailable, Title: "Rate limited",
				Detail: fmt.Sprintf("too many requests from this client or token; retry after %s", wait.Round(time.Millisecond))})
			return
		}
		if pattern == "" {
			// No route: answer the mux's 404 or 405 as a problem.
			d := &discard{h: http.Header{}}
			mux.ServeHTTP(d, r)
			if allow := d.h.Get("Allow"); allow != "" {
				rec.Header().Set("Allow", allow)
			}
			status := d.status
			if status == 0 || status == http.StatusOK {
				status = http.StatusNotFound
			}
			s.writeProblem(rec, r, problem{Status: status, Title: http.StatusText(status),
				Detail: fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)})
			return
		}
		mux.ServeHTTP(rec, r)
	})
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
