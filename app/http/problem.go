package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/linkage-platform/linkage/app/linkage"
)

// problem is an RFC 7807 problem detail; it is also an error a handler returns.
type problem = linkage.Problem

func problemf(status int, title, format string, args ...any) *problem {
	return &problem{Status: status, Title: title, Detail: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *problem {
	return problemf(http.StatusBadRequest, "Bad Request", format, args...)
}

// notEnabled answers a request for a feature this server lacks (object-store access needs the S3
// blob store): one status for the kind, the 500 api.md gives authorize-external-upload.
func notEnabled(format string, args ...any) *problem {
	return problemf(http.StatusInternalServerError, "Not enabled", format, args...)
}

// errForbidden is the one answer to an unknown project, a wrong or a missing token: it never
// reveals which.
var errForbidden = &problem{Status: http.StatusForbidden, Title: "Forbidden",
	Detail: "the project does not exist or the token is not valid for this request"}

func limitProblem(l *linkage.LimitError, detail string) *problem {
	return &problem{Status: http.StatusRequestEntityTooLarge, Title: "Limit exceeded", Limit: l.Limit,
		Detail: fmt.Sprintf("%s: %v (configurable with --%s)", detail, l, l.Limit)}
}

// writeError answers err as a problem. After the header was written (a client that went away
// mid-answer, most often) it only logs at debug: a second answer cannot be sent, and the failure
// is rarely the server's.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if headerWritten(w) {
		s.log.Debug("response interrupted", "request_id", requestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
		return
	}
	var p *problem
	var le *linkage.LimitError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &p):
	case errors.As(err, &le):
		p = limitProblem(le, "request refused")
	case errors.As(err, &mbe):
		p = limitProblem(&linkage.LimitError{Limit: "max-upload-bytes", Max: mbe.Limit}, "request body too large")
	case errors.Is(err, linkage.ErrInvalid):
		p = badRequest("%v", err)
	case errors.Is(err, linkage.ErrNotFound):
		p = &problem{Status: http.StatusNotFound, Title: "Not Found", Detail: err.Error()}
	case errors.Is(err, linkage.ErrUnavailable):
		s.log.Warn("backend unavailable", "request_id", requestID(r.Context()), "err", err)
		p = &problem{Status: http.StatusServiceUnavailable, Title: "Service Unavailable", Detail: "a backing service is unavailable; retry later"}
		w.Header().Set("Retry-After", "5")
	default:
		s.log.Error("request failed", "request_id", requestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
		p = &problem{Status: http.StatusInternalServerError, Title: "Internal Server Error",
			Detail: "unexpected error; see the server log for request " + requestID(r.Context())}
	}
	s.writeProblem(w, r, *p)
}

func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.Instance = r.URL.Path
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("write response: %w", err)
	}
	return nil
}

// decodeBody decodes a small JSON request body into v.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, timedBody(w, r, 0, s.cfg.BodyTimeout, "", "body-timeout"), s.cfg.Limits.MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var p *problem
		if errors.As(err, &p) {
			return p
		}
		if errors.As(err, &mbe) {
			return limitProblem(&linkage.LimitError{Limit: "max-body-bytes", Max: mbe.Limit}, "request body too large")
		}
		return badRequest("malformed JSON body: %v", err)
	}
	return nil
}
