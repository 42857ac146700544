package http

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/tracing"
)

// runAccess authorizes a run request and loads the run; a run of another project, or none, is
// the same 403 as a wrong token.
func (s *Server) runAccess(r *http.Request, allowed func(*access) error) (*access, *linkage.Run, error) {
	a, err := s.authorize(r)
	if err != nil {
		return nil, nil, err
	}
	if err := allowed(a); err != nil {
		return nil, nil, err
	}
	rid := r.PathValue("rid")
	if !linkage.ValidID(rid) {
		return nil, nil, errForbidden
	}
	run, err := s.store.GetRun(r.Context(), a.project.ID, rid)
	if isNotFound(err) {
		return nil, nil, errForbidden
	}
	if err != nil {
		return nil, nil, err
	}
	return a, runView(a, run), nil
}

type createRunRequest struct {
	Threshold *float64 `json:"threshold"`
	Name      string   `json:"name"`
	Notes     string   `json:"notes"`
}

func (s *Server) createRun(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authorize(r)
	if err != nil {
		return err
	}
	if err := a.needResult(); err != nil {
		return err
	}
	var req createRunRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Threshold == nil {
		return badRequest("threshold is required (0 < threshold <= 1)")
	}
	if p := projectProblem(a); p != "" {
		return badRequest("the project is in error, no run can succeed: %s", p)
	}
	t := *req.Threshold
	if err := linkage.ValidateThreshold(t); err != nil {
		return badRequest("%v", err)
	}
	run := &linkage.Run{ID: linkage.NewID(), ProjectID: a.project.ID, Name: req.Name, Notes: req.Notes, Threshold: t, CreatedAt: s.now()}
	tracing.Annotate(r, tracing.AttrRunID.String(run.ID))
	if err := s.store.CreateRun(r.Context(), run); err != nil {
		if isNotFound(err) {
			return errForbidden
		}
		return err
	}
	s.log.Info("run created", "request_id", requestID(r.Context()), "project", a.project.ID, "run", run.ID, "state", run.State)
	if run.State == linkage.RunQueued {
		s.schedule(r, a.project.ID, run.ID)
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"run_id": run.ID, "threshold": t, "name": run.Name, "notes": run.Notes})
}

// schedule hands a queued run to the workers; on failure the reconciler does it later.
func (s *Server) schedule(r *http.Request, projectID, runID string) {
	if s.cfg.Scheduler == nil {
		return
	}
	if err := s.cfg.Scheduler.RunQueued(r.Context(), projectID, runID); err != nil {
		s.log.Warn("enqueue run (the reconciler will retry)", "request_id", requestID(r.Context()), "run", runID, "err", err)
	}
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authorize(r)
	if err != nil {
		return err
	}
	if err := a.needResult(); err != nil {
		return err
	}
	after, limit, err := page(r)
	if err != nil {
		return err
	}
	runs, err := s.store.ListRuns(r.Context(), a.project.ID, after, limit)
	if err != nil {
		return err
	}
	if len(runs) == limit {
		linkNext(w, r, runs[len(runs)-1].ID, limit)
	}
	type item struct {
		RunID     string           `json:"run_id"`
		TimeAdded *string          `json:"time_added"`
		State     linkage.RunState `json:"state"`
	}
	problem := projectProblem(a) != ""
	out := make([]item, len(runs))
	for i, run := range runs {
		state := run.State
		if problem && !state.Terminal() { // as runView
			state = linkage.RunError
		}
		out[i] = item{run.ID, timestamp(run.CreatedAt), state}
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getRun(w http.ResponseWriter, r *http.Request) error {
	_, run, err := s.runAccess(r, (*access).needResult)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"run_id": run.ID, "name": run.Name, "notes": run.Notes, "threshold": run.Threshold,
		"state": run.State, "time_added": timestamp(run.CreatedAt),
	})
}

func (s *Server) deleteRun(w http.ResponseWriter, r *http.Request) error {
	a, run, err := s.runAccess(r, (*access).needResult)
	if err != nil {
		return err
	}
	if err := s.deleteWithBlobs(r, linkage.RunPrefix(a.project.ID, run.ID), func() error {
		return s.store.DeleteRun(r.Context(), a.project.ID, run.ID)
	}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type progress struct {
	Absolute    int64   `json:"absolute"`
	Relative    float64 `json:"relative"`
	Description string  `json:"description"`
}

type stage struct {
	Number      int       `json:"number"`
	Description string    `json:"description"`
	Progress    *progress `json:"progress,omitempty"`
}

type runStatus struct {
	State                  linkage.RunState `json:"state"`
	TimeAdded              *string          `json:"time_added"`
	TimeStarted            *string          `json:"time_started"` // null until started, always present
	TimeCompleted          *string          `json:"time_completed,omitempty"`
	Stages                 int              `json:"stages"`
	CurrentStage           stage            `json:"current_stage"`
	TotalNumberComparisons *int64           `json:"total_number_comparisons,omitempty"` // when completed
	Message                string           `json:"message,omitempty"`                  // the reason, when error
}

func (s *Server) getRunStatus(w http.ResponseWriter, r *http.Request) error {
	a, run, err := s.runAccess(r, (*access).needReader)
	if err != nil {
		return err
	}
	st := runStatus{
		State: run.State, TimeAdded: timestamp(run.CreatedAt), TimeStarted: timestamp(run.StartedAt),
		TimeCompleted: timestamp(run.CompletedAt), Stages: linkage.StageCount,
		CurrentStage: stage{Number: run.Stage, Description: linkage.StageDescription(run.Stage)},
	}
	if a.project.ResultType == linkage.ResultSimilarityScores {
		// No solving stage: the scores are the result (the reference reports 2 stages).
		st.Stages = linkage.StageCompare
		if st.CurrentStage.Number > linkage.StageCompare {
			st.CurrentStage = stage{Number: linkage.StageCompare, Description: linkage.StageDescription(linkage.StageCompare)}
			if run.State == linkage.RunCompleted {
				run.Progress = run.Total
			}
			run.Stage = linkage.StageCompare
		}
	}
	if run.State == linkage.RunCompleted {
		st.TotalNumberComparisons = &run.Total
	}
	switch run.Stage {
	case linkage.StageUploads:
		done := 0
		for _, pa := range a.parties {
			if pa.State == linkage.UploadDone {
				done++
			}
		}
		st.CurrentStage.Progress = &progress{Absolute: int64(done), Relative: float64(done) / float64(len(a.parties)),
			Description: "number of parties already contributed"}
	case linkage.StageCompare:
		rel := 0.0
		if run.Total > 0 {
			rel = float64(run.Progress) / float64(run.Total)
		}
		st.CurrentStage.Progress = &progress{Absolute: run.Progress, Relative: rel, Description: "number of already computed comparisons"}
	case linkage.StageSolve:
		p := &progress{Description: "result written"}
		if run.State == linkage.RunCompleted {
			p.Absolute, p.Relative = 1, 1
		}
		st.CurrentStage.Progress = p
	}
	if run.State == linkage.RunError {
		st.Message = run.Message
	}
	return writeJSON(w, http.StatusOK, st)
}

func (s *Server) getRunResult(w http.ResponseWriter, r *http.Request) error {
	a, run, err := s.runAccess(r, (*access).needReader)
	if err != nil {
		return err
	}
	rt := a.project.ResultType
	if run.State != linkage.RunCompleted {
		detail := fmt.Sprintf("the run is %s; its result is not ready", run.State)
		if run.State == linkage.RunError {
			detail = "the run failed, it has no result: " + run.Message
		}
		return &problem{Status: http.StatusNotFound, Title: "Result not ready", Detail: detail}
	}
	part := linkage.PartResult
	if rt == linkage.ResultPermutations {
		part = linkage.PartMask
		if !a.result {
			part = linkage.PartParty(a.party)
		}
	}
	key := linkage.ResultKey(a.project.ID, run.ID, run.ResultAttempt, part)
	// Any value asks for the address, as the reference's clients send it.
	if _, ok := r.Header[http.CanonicalHeaderKey("RETURN-OBJECT-STORE-ADDRESS")]; ok && rt == linkage.ResultSimilarityScores {
		key = linkage.ResultKey(a.project.ID, run.ID, run.ResultAttempt, linkage.PartScoresFile)
		ext, ok := s.blobs.(linkage.ExternalAccess)
		if !ok {
			return notEnabled("object-store results are not enabled on this server (it stores blobs locally); request the result without RETURN-OBJECT-STORE-ADDRESS")
		}
		creds, obj, err := ext.DownloadAccess(r.Context(), key)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{"credentials": creds, "object": obj})
	}
	rc, err := s.blobs.Get(r.Context(), key)
	if err != nil {
		if errors.Is(err, linkage.ErrNotFound) {
			return fmt.Errorf("result blob of completed run %s missing: %v", run.ID, err) // a 500, not a 404
		}
		return err
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("result stream interrupted", "request_id", requestID(r.Context()), "run", run.ID, "err", err)
	}
	return nil
}
