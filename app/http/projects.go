package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/linkage-platform/linkage/app/linkage"
)

func isNotFound(err error) bool { return errors.Is(err, linkage.ErrNotFound) }

// isoTime is how Python's isoformat writes an aware UTC time with microseconds: clients before
// Python 3.11 parse neither a "Z" nor nanoseconds.
const isoTime = "2006-01-02T15:04:05.000000-07:00"

func timestamp(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := t.UTC().Format(isoTime)
	return &s
}

// maxPage is the most entries of one listing page (projects, a project's runs).
const maxPage = 1000

// page reads a listing's ?limit= (default and maximum maxPage) and ?after=<id>.
func page(r *http.Request) (after string, limit int, err error) {
	limit = maxPage
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return "", 0, badRequest("limit must be an integer from 1 to %d, got %q", maxPage, v)
		}
		limit = n
	}
	return r.URL.Query().Get("after"), limit, nil
}

// linkNext points a full page, whose last entry is last, to the next one with a Link header;
// the body stays the API's plain list.
func linkNext(w http.ResponseWriter, r *http.Request, last string, limit int) {
	next := url.Values{"after": {last}, "limit": {strconv.Itoa(limit)}}
	w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, next.Encode()))
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	after, limit, err := page(r)
	if err != nil {
		return err
	}
	ps, err := s.store.ListProjects(r.Context(), after, limit)
	if err != nil {
		return err
	}
	if len(ps) == limit {
		linkNext(w, r, ps[len(ps)-1].ID, limit)
	}
	type item struct {
		ProjectID string  `json:"project_id"`
		TimeAdded *string `json:"time_added"`
	}
	out := make([]item, len(ps))
	for i, p := range ps {
		out[i] = item{p.ID, timestamp(p.CreatedAt)}
	}
	return writeJSON(w, http.StatusOK, out)
}

type createProjectRequest struct {
	Schema        json.RawMessage `json:"schema"`
	ResultType    string          `json:"result_type"`
	NumberParties *int            `json:"number_parties"`
	Name          string          `json:"name"`
	Notes         string          `json:"notes"`
	UsesBlocking  bool            `json:"uses_blocking"`
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) error {
	var req createProjectRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	if t := bytes.TrimSpace(req.Schema); len(t) == 0 || t[0] != '{' {
		return badRequest("schema is required and must be a JSON object")
	}
	if req.ResultType == "" {
		return badRequest("result_type is required: groups, permutations or similarity_scores")
	}
	parties := 2
	if req.NumberParties != nil {
		parties = *req.NumberParties
	}
	if parties < 2 {
		return badRequest("number_parties must be at least 2, got %d", parties)
	}
	if parties > s.cfg.Limits.MaxParties {
		return limitProblem(&linkage.LimitError{Limit: "max-parties", Max: int64(s.cfg.Limits.MaxParties)}, "too many parties")
	}
	rt := linkage.ResultType(req.ResultType)
	if err := rt.Validate(parties); err != nil {
		return badRequest("%v", err)
	}
	resultToken := linkage.NewID()
	p := &linkage.Project{
		ID: linkage.NewID(), Name: req.Name, Notes: req.Notes, Schema: req.Schema, ResultType: rt,
		NumberParties: parties, UsesBlocking: req.UsesBlocking, ResultTokenHash: linkage.HashToken(resultToken),
		CreatedAt: s.now(),
	}
	updateTokens := make([]string, parties)
	ps := make([]linkage.Party, parties)
	for i := range ps {
		updateTokens[i] = linkage.NewID()
		ps[i] = linkage.Party{ProjectID: p.ID, Index: i, UpdateTokenHash: linkage.HashToken(updateTokens[i]), State: linkage.UploadPending}
	}
	if err := s.store.CreateProject(r.Context(), p, ps); err != nil {
		return err
	}
	s.log.Info("project created", "request_id", requestID(r.Context()), "project", p.ID, "parties", parties, "result_type", rt)
	return writeJSON(w, http.StatusCreated, map[string]any{
		"project_id": p.ID, "update_tokens": updateTokens, "result_token": resultToken,
	})
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authorize(r)
	if err != nil {
		return err
	}
	if err := a.needReader(); err != nil {
		return err
	}
	contributed := 0
	for _, pa := range a.parties {
		if pa.State == linkage.UploadDone {
			contributed++
		}
	}
	p := a.project
	return writeJSON(w, http.StatusOK, map[string]any{
		"project_id": p.ID, "schema": p.Schema, "result_type": p.ResultType, "number_parties": p.NumberParties,
		"name": p.Name, "notes": p.Notes, "parties_contributed": contributed, "error": projectProblem(a) != "",
		"uses_blocking": p.UsesBlocking, "time_added": timestamp(p.CreatedAt),
	})
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authorize(r)
	if err != nil {
		return err
	}
	if err := a.needResult(); err != nil {
		return err
	}
	if err := s.deleteWithBlobs(r, linkage.ProjectPrefix(a.project.ID), func() error {
		return s.store.DeleteProject(r.Context(), a.project.ID)
	}); err != nil {
		return err
	}
	s.log.Info("project deleted", "request_id", requestID(r.Context()), "project", a.project.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// deleteWithBlobs removes the blobs under prefix, then the rows (deleteRows), then sweeps the
// prefix again for blobs a worker or an upload wrote meanwhile. Blobs go first so that a failure
// leaves the rows, and the client's retry finishes the job.
func (s *Server) deleteWithBlobs(r *http.Request, prefix string, deleteRows func() error) error {
	if err := s.blobs.DeletePrefix(r.Context(), prefix); err != nil {
		return err
	}
	if err := deleteRows(); err != nil {
		if isNotFound(err) {
			return errForbidden // deleted concurrently
		}
		return err
	}
	if err := s.blobs.DeletePrefix(context.WithoutCancel(r.Context()), prefix); err != nil {
		s.log.Warn("sweep blobs after delete", "request_id", requestID(r.Context()), "prefix", prefix, "err", err)
	}
	return nil
}

func (s *Server) authorizeExternalUpload(w http.ResponseWriter, r *http.Request) error {
	a, err := s.authorize(r)
	if err != nil {
		return err
	}
	if err := a.needUpdate(); err != nil {
		return err
	}
	if a.parties[a.party].State == linkage.UploadDone {
		return errForbidden // the token is spent: no more write credentials for this party
	}
	ext, ok := s.blobs.(linkage.ExternalAccess)
	if !ok {
		return notEnabled("object-store uploads are not enabled on this server (it stores blobs locally); upload through /clks or /binaryclks")
	}
	creds, obj, err := ext.UploadAccess(r.Context(), externalPrefix(a))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"credentials": creds, "upload": obj})
}

// externalPrefix is the party's area for authorize-external-upload writes.
func externalPrefix(a *access) string { return linkage.ExternalUploadPrefix(a.project.ID, a.party) }
