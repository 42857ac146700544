package smoke

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
)

// fakeAPI answers the calls of one smoke test the way the Anonlink API does; its groups link records
// with identical CLKs across the two parties (the fixture's only matches), unless wrongResult is set.
type fakeAPI struct {
	mu           sync.Mutex
	notReady     int // /status answers 503 this many times first
	runFails     bool
	wrongResult  bool
	uploads      [2][]string
	statusPolls  int
	deleted      bool
	unauthorized int
}

const (
	pid         = "p1"
	resultToken = "rt"
)

func (f *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	auth := func(r *http.Request, tokens ...string) bool {
		for _, t := range tokens {
			if r.Header.Get("Authorization") == t {
				return true
			}
		}
		f.unauthorized++
		return false
	}
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.notReady > 0 {
			f.notReady--
			reply(w, http.StatusServiceUnavailable, map[string]any{"title": "starting"})
			return
		}
		reply(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("POST /api/v1/projects", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ResultType    string `json:"result_type"`
			NumberParties int    `json:"number_parties"`
		}
		if json.NewDecoder(r.Body).Decode(&body) != nil || body.ResultType != "groups" || body.NumberParties != 2 {
			reply(w, http.StatusBadRequest, map[string]any{"title": "bad project"})
			return
		}
		reply(w, http.StatusCreated, map[string]any{"project_id": pid, "update_tokens": []string{"u0", "u1"}, "result_token": resultToken})
	})
	mux.HandleFunc("POST /api/v1/projects/p1/clks", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		party := map[string]int{"u0": 0, "u1": 1}[r.Header.Get("Authorization")]
		if !auth(r, "u0", "u1") {
			reply(w, http.StatusForbidden, nil)
			return
		}
		var body struct {
			Clks []string `json:"clks"`
		}
		if json.NewDecoder(r.Body).Decode(&body) != nil {
			reply(w, http.StatusBadRequest, nil)
			return
		}
		f.uploads[party] = body.Clks
		reply(w, http.StatusCreated, map[string]any{"receipt_token": "rc", "message": "ok"})
	})
	mux.HandleFunc("POST /api/v1/projects/p1/runs", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Threshold float64 `json:"threshold"`
		}
		if !auth(r, resultToken) || json.NewDecoder(r.Body).Decode(&body) != nil || body.Threshold != Threshold {
			reply(w, http.StatusBadRequest, nil)
			return
		}
		reply(w, http.StatusCreated, map[string]any{"run_id": "r1", "threshold": body.Threshold})
	})
	mux.HandleFunc("GET /api/v1/projects/p1/runs/r1/status", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.statusPolls++
		state := "running"
		switch {
		case f.runFails:
			reply(w, http.StatusOK, map[string]any{"state": "error", "message": "engine exploded"})
			return
		case f.statusPolls > 2:
			state = "completed"
		}
		reply(w, http.StatusOK, map[string]any{"state": state})
	})
	mux.HandleFunc("GET /api/v1/projects/p1/runs/r1/result", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		groups := [][][2]int{}
		for i, a := range f.uploads[0] {
			for j, b := range f.uploads[1] {
				if a == b {
					groups = append(groups, [][2]int{{1, j}, {0, i}})
				}
			}
		}
		if f.wrongResult {
			groups = groups[1:]
		}
		reply(w, http.StatusOK, map[string]any{"groups": groups})
	})
	mux.HandleFunc("DELETE /api/v1/projects/p1", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if auth(r, resultToken) {
			f.deleted = true
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func check(t *testing.T, f *fakeAPI, timeout time.Duration) error {
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c := &Checker{BaseURL: srv.URL + "/", Records: 5, Poll: time.Millisecond}
	return c.Run(ctx)
}

func TestPassesAgainstACorrectService(t *testing.T) {
	f := &fakeAPI{notReady: 3}
	require.NoError(t, check(t, f, 5*time.Second))
	require.True(t, f.deleted, "the project is deleted afterwards")
	require.Zero(t, f.unauthorized, "every call carries the right token")
	require.Len(t, f.uploads[0], 6)
	require.Len(t, f.uploads[1], 6)
}

func TestFailsOnWrongGroups(t *testing.T) {
	f := &fakeAPI{wrongResult: true}
	require.ErrorContains(t, check(t, f, 5*time.Second), "wrong groups")
	require.True(t, f.deleted, "the project is deleted after a failure too")
}

func TestFailsOnRunError(t *testing.T) {
	f := &fakeAPI{runFails: true}
	require.ErrorContains(t, check(t, f, 5*time.Second), "run failed: engine exploded")
	require.True(t, f.deleted)
}

func TestGivesUpWhenTheServiceNeverAnswers(t *testing.T) {
	f := &fakeAPI{notReady: 1 << 30}
	// Long enough for a few 503s even on a loaded machine: the error names the last answer seen.
	err := check(t, f, time.Second)
	require.ErrorContains(t, err, "service not ready")
	require.ErrorContains(t, err, "status 503")
}

func TestFixtureGroupsAreTheIdenticalRecords(t *testing.T) {
	parties, groups := Fixture(4)
	require.Len(t, parties[0], 5)
	require.Len(t, parties[1], 5)
	require.Len(t, groups, 4)
	for _, g := range groups {
		require.Equal(t, parties[0][g[0].Row], parties[1][g[1].Row])
	}
	again, _ := Fixture(4)
	require.Equal(t, parties, again, "deterministic")
}

func TestCheckGroupsIgnoresOrder(t *testing.T) {
	want := [][]client.Record{{rec(0, 0), rec(1, 2)}, {rec(0, 1), rec(1, 1)}}
	require.NoError(t, CheckGroups([][]client.Record{{rec(1, 1), rec(0, 1)}, {rec(1, 2), rec(0, 0)}}, want))
	require.Error(t, CheckGroups([][]client.Record{{rec(0, 0), rec(1, 1)}, {rec(0, 1), rec(1, 2)}}, want))
	require.Error(t, CheckGroups(want[:1], want))
}

func rec(party, row int) client.Record { return client.Record{Party: party, Row: row} }
