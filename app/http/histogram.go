package http

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/linkage-platform/linkage/app/histogram"
	"github.com/linkage-platform/linkage/app/linkage"
)

// getRunHistogram serves the distribution of scores the run's workers recorded: JSON bins, or an
// SVG plot when the client accepts image/svg+xml (?scale=linear for a linear count axis).
func (s *Server) getRunHistogram(w http.ResponseWriter, r *http.Request) error {
	a, run, err := s.runAccess(r, (*access).needResult)
	if err != nil {
		return err
	}
	scale := r.URL.Query().Get("scale")
	if scale != "" && scale != "log" && scale != "linear" {
		return badRequest("scale %q: want log or linear", scale)
	}
	if run.State != linkage.RunCompleted {
		return &problem{Status: http.StatusNotFound, Title: "Histogram not ready",
			Detail: fmt.Sprintf("the run is %s; its histogram is recorded when it completes", run.State)}
	}
	rc, err := s.blobs.Get(r.Context(), linkage.HistogramKey(a.project.ID, run.ID, run.ResultAttempt))
	if errors.Is(err, linkage.ErrNotFound) {
		return &problem{Status: http.StatusNotFound, Title: "No histogram",
			Detail: "this run has no histogram: the workers that computed it record none (--histogram-floor 0)"}
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	var h histogram.Histogram
	if err := json.NewDecoder(rc).Decode(&h); err != nil {
		return fmt.Errorf("histogram of run %s: %w", run.ID, err)
	}
	w.Header().Add("Vary", "Accept")
	if acceptsSVG(r) {
		w.Header().Set("Content-Type", "image/svg+xml")
		w.WriteHeader(http.StatusOK)
		title := fmt.Sprintf("Dice scores of run %s… (threshold %v)", run.ID[:8], run.Threshold)
		if err := histogram.WriteSVG(w, &h, histogram.SVGOptions{Log: scale != "linear", Threshold: run.Threshold, Title: title}); err != nil {
			s.log.Warn("histogram stream interrupted", "request_id", requestID(r.Context()), "run", run.ID, "err", err)
		}
		return nil
	}
	return writeJSON(w, http.StatusOK, &h)
}

// acceptsSVG is true when the Accept header lists image/svg+xml (or image/*) before, or instead
// of, JSON.
func acceptsSVG(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case "image/svg+xml", "image/*":
			return true
		case "application/json", "application/*":
			return false
		}
	}
	return false
}
