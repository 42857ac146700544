package http

import (
	"net/http"
	"strings"

	"github.com/linkage-platform/linkage/app/linkage"
)

// access is what a presented token grants on a project.
type access struct {
	project *linkage.Project
	parties []linkage.Party
	result  bool   // the result token
	party   int    // the party of an update or receipt token, else -1
	update  bool   // party identified by its update token
	receipt bool   // party identified by its receipt token
	attempt string // the upload attempt owning the party's claim (authorizeUpload)
}

// token reads the raw token of the Authorization header (a "Bearer " prefix is tolerated).
func token(r *http.Request) string {
	t := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(t) > 7 && strings.EqualFold(t[:7], "bearer ") {
		t = strings.TrimSpace(t[7:])
	}
	return t
}

// authorize answers 400 when the request has no Authorization header at all. It loads the project and matches the token against its result token and every
// party's update and receipt token, in constant time and without stopping at the first
// match. Any failure — unknown project, missing or wrong token — is errForbidden.
func (s *Server) authorize(r *http.Request) (*access, error) {
	if _, ok := r.Header["Authorization"]; !ok {
		// The reference's framework rejects a request lacking a required header before any
		// handler runs: 400, whatever the project.
		return nil, badRequest("the Authorization header is required (the raw token)")
	}
	pid := r.PathValue("pid")
	tok := token(r)
	if !linkage.ValidID(pid) || tok == "" {
		return nil, errForbidden
	}
	p, err := s.store.GetProject(r.Context(), pid)
	if err != nil {
		if isNotFound(err) {
			return nil, errForbidden
		}
		return nil, err
	}
	parties, err := s.store.ListParties(r.Context(), pid)
	if err != nil {
		return nil, err
	}
	a := &access{project: p, parties: parties, party: -1}
	a.result = linkage.TokenMatches(tok, p.ResultTokenHash)
	for _, pa := range parties {
		if linkage.TokenMatches(tok, pa.UpdateTokenHash) {
			a.party, a.update = pa.Index, true
		}
		if linkage.TokenMatches(tok, pa.ReceiptTokenHash) {
			a.party, a.receipt = pa.Index, true
		}
	}
	return a, nil
}

// needReader checks the reference's read scope: the result token, or in a permutations project
// a party's receipt token (which reads its own permutation, the project and the run status).
func (a *access) needReader() error {
	if a.result || (a.receipt && a.project.ResultType == linkage.ResultPermutations) {
		return nil
	}
	return errForbidden
}

// needResult checks for the result token.
func (a *access) needResult() error {
	if a.result {
		return nil
	}
	return errForbidden
}

// needUpdate checks for a party's update token.
func (a *access) needUpdate() error {
	if a.update {
		return nil
	}
	return errForbidden
}
