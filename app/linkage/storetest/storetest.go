// Package storetest is the behaviour suite every linkage.Store implementation must pass.
// Call Run from the implementation's tests with a function opening a fresh, empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
)

// Run runs the suite. open must return an empty, migrated store; it is called once per subtest.
func Run(t *testing.T, open func(t *testing.T) linkage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s linkage.Store)
	}{
		{"ProjectRoundTrip", testProjectRoundTrip},
		{"ProjectNotFound", testProjectNotFound},
		{"ListAndCountProjects", testListAndCountProjects},
		{"UploadClaimIsSingleUse", testUploadClaimIsSingleUse},
		{"UploadClaimRace", testUploadClaimRace},
		{"UploadSizesAgree", testUploadSizesAgree},
		{"StaleClaimIsRetaken", testStaleClaimIsRetaken},
		{"ClaimBelongsToOneAttempt", testClaimBelongsToOneAttempt},
		{"ReleasedClaimIsNotCompleted", testReleasedClaimIsNotCompleted},
		{"RunsWaitForUploads", testRunsWaitForUploads},
		{"RunOnCompleteProjectIsQueued", testRunOnCompleteProjectIsQueued},
		{"RunLifecycle", testRunLifecycle},
		{"StartRunOnce", testStartRunOnce},
		{"ChunkWindow", testChunkWindow},
		{"ChunkWindowRaces", testChunkWindowRaces},
		{"ProgressNeverDecreases", testProgressNeverDecreases},
		{"AttemptsGivenBack", testAttemptsGivenBack},
		{"LastErrorRecorded", testLastErrorRecorded},
		{"CompletionRecordsOneSolve", testCompletionRecordsOneSolve},
		{"FailRun", testFailRun},
		{"DeleteRun", testDeleteRun},
		{"DeleteProjectCascades", testDeleteProjectCascades},
		{"RunBelongsToProject", testRunBelongsToProject},
		{"CountRuns", testCountRuns},
		{"ListingsReadNoBlobs", testListingsReadNoBlobs},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
		})
	}
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// newProject creates a project with n parties and returns it.
func newProject(t *testing.T, s linkage.Store, n int, at time.Time) *linkage.Project {
	t.Helper()
	p := &linkage.Project{
		ID:              linkage.NewID(),
		Name:            "p",
		Notes:           "notes",
		Schema:          json.RawMessage(`{"version":1,"features":[]}`),
		ResultType:      linkage.ResultGroups,
		NumberParties:   n,
		UsesBlocking:    true,
		ResultTokenHash: linkage.HashToken("result"),
		CreatedAt:       at,
	}
	parties := make([]linkage.Party, n)
	for i := range parties {
		parties[i] = linkage.Party{ProjectID: p.ID, Index: i, UpdateTokenHash: linkage.HashToken(p.ID + string(rune('a'+i))), State: linkage.UploadPending}
	}
	require.NoError(t, s.CreateProject(context.Background(), p, parties))
	return p
}

func upload(t *testing.T, s linkage.Store, pid string, party int, records int64) []string {
	t.Helper()
	ctx := context.Background()
	attempt, err := s.ClaimUpload(ctx, pid, party, t0, t0.Add(-time.Hour))
	require.NoError(t, err)
	queued, err := s.CompleteUpload(ctx, linkage.Party{
		ProjectID: pid, Index: party, Records: records, HashSize: 128, HasBlocks: party == 0,
		ReceiptTokenHash: linkage.HashToken("receipt"), UploadedAt: t0, Attempt: attempt,
	})
	require.NoError(t, err)
	return queued
}

func newRun(t *testing.T, s linkage.Store, pid string, at time.Time) *linkage.Run {
	t.Helper()
	r := &linkage.Run{ID: linkage.NewID(), ProjectID: pid, Name: "r", Notes: "n", Threshold: 0.8, CreatedAt: at}
	require.NoError(t, s.CreateRun(context.Background(), r))
	return r
}

func testProjectRoundTrip(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p := newProject(t, s, 3, t0)
	got, err := s.GetProject(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, p.ID, got.ID)
	require.Equal(t, p.Name, got.Name)
	require.Equal(t, p.Notes, got.Notes)
	require.JSONEq(t, string(p.Schema), string(got.Schema))
	require.Equal(t, p.ResultType, got.ResultType)
	require.Equal(t, 3, got.NumberParties)
	require.True(t, got.UsesBlocking)
	require.Equal(t, p.ResultTokenHash, got.ResultTokenHash)
	require.True(t, p.CreatedAt.Equal(got.CreatedAt), "created %v, got %v", p.CreatedAt, got.CreatedAt)

	parties, err := s.ListParties(ctx, p.ID)
	require.NoError(t, err)
	require.Len(t, parties, 3)
	for i, pa := range parties {
		require.Equal(t, i, pa.Index)
		require.Equal(t, p.ID, pa.ProjectID)
		require.Equal(t, linkage.UploadPending, pa.State)
		require.Equal(t, linkage.HashToken(p.ID+string(rune('a'+i))), pa.UpdateTokenHash)
		require.Empty(t, pa.ReceiptTokenHash)
	}
}

func testProjectNotFound(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	_, err := s.GetProject(ctx, linkage.NewID())
	require.ErrorIs(t, err, linkage.ErrNotFound)
	require.ErrorIs(t, s.DeleteProject(ctx, linkage.NewID()), linkage.ErrNotFound)
	_, err = s.GetRun(ctx, linkage.NewID(), linkage.NewID())
	require.ErrorIs(t, err, linkage.ErrNotFound)
	parties, err := s.ListParties(ctx, linkage.NewID())
	require.NoError(t, err)
	require.Empty(t, parties)
}

func testListAndCountProjects(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	n, err := s.CountProjects(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	a := newProject(t, s, 2, t0)
	b := newProject(t, s, 2, t0.Add(time.Second))
	c := newProject(t, s, 2, t0.Add(time.Second)) // same time as b: ordered by id then
	list, err := s.ListProjects(ctx, "", 10)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, a.ID, list[0].ID)
	require.True(t, t0.Equal(list[0].CreatedAt))
	second, third := b.ID, c.ID
	if third < second {
		second, third = third, second
	}
	require.Equal(t, []string{second, third}, []string{list[1].ID, list[2].ID})
	// Pages: after a project, at most limit.
	page, err := s.ListProjects(ctx, a.ID, 1)
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, second, page[0].ID)
	page, err = s.ListProjects(ctx, second, 5)
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, third, page[0].ID)
	page, err = s.ListProjects(ctx, third, 5)
	require.NoError(t, err)
	require.Empty(t, page)
	n, err = s.CountProjects(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
}

// claim claims party's upload and returns the attempt owning the claim.
func claim(t *testing.T, s linkage.Store, pid string, party int, now, staleBefore time.Time) string {
	t.Helper()
	attempt, err := s.ClaimUpload(context.Background(), pid, party, now, staleBefore)
	require.NoError(t, err)
	require.NotEmpty(t, attempt)
	return attempt
}

func testUploadClaimIsSingleUse(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p := newProject(t, s, 2, t0)
	stale := t0.Add(-time.Hour)
	first := claim(t, s, p.ID, 0, t0, stale)
	_, err := s.ClaimUpload(ctx, p.ID, 0, t0, stale)
	require.ErrorIs(t, err, linkage.ErrConflict)
	// A failed upload hands the claim back.
	require.NoError(t, s.ReleaseUpload(ctx, p.ID, 0, first))
	attempt := claim(t, s, p.ID, 0, t0, stale)
	require.NotEqual(t, first, attempt, "every claim has its own owner")
	_, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 0, Records: 7, HashSize: 64, HasBlocks: true,
		ReceiptTokenHash: linkage.HashToken("r"), UploadedAt: t0, Problem: "record 3 is 12 bytes", Attempt: attempt})
	require.NoError(t, err)
	// Spent: neither claimable nor completable again, not even much later.
	_, err = s.ClaimUpload(ctx, p.ID, 0, t0.Add(48*time.Hour), t0.Add(24*time.Hour))
	require.ErrorIs(t, err, linkage.ErrConflict)
	_, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 0, Records: 1, HashSize: 64, UploadedAt: t0, Attempt: attempt})
	require.ErrorIs(t, err, linkage.ErrConflict)
	require.ErrorContains(t, err, "recorded already")
	// Completing without a claim is refused.
	_, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 1, Records: 1, HashSize: 64, UploadedAt: t0})
	require.ErrorIs(t, err, linkage.ErrConflict)

	parties, err := s.ListParties(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.UploadDone, parties[0].State)
	require.EqualValues(t, 7, parties[0].Records)
	require.Equal(t, 64, parties[0].HashSize)
	require.True(t, parties[0].HasBlocks)
	require.Equal(t, linkage.HashToken("r"), parties[0].ReceiptTokenHash)
	require.True(t, t0.Equal(parties[0].UploadedAt))
	require.Equal(t, "record 3 is 12 bytes", parties[0].Problem)
	require.Equal(t, attempt, parties[0].Attempt, "the record names the attempt whose blobs hold the upload")
	require.Equal(t, linkage.UploadPending, parties[1].State)
	require.Empty(t, parties[1].Problem)
	require.Empty(t, parties[1].Attempt)
}

// The CLK size is checked when an upload is recorded, so that two concurrent uploads of
// different sizes (each checked against no done party before) cannot both be accepted.
func testUploadSizesAgree(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p := newProject(t, s, 3, t0)
	stale := t0.Add(-time.Hour)
	var attempts [3]string
	for i := range 3 {
		attempts[i] = claim(t, s, p.ID, i, t0, stale)
	}
	_, err := s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 0, Records: 5, HashSize: 128, UploadedAt: t0, Attempt: attempts[0]})
	require.NoError(t, err)
	_, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 1, Records: 5, HashSize: 64, UploadedAt: t0, Attempt: attempts[1]})
	require.ErrorIs(t, err, linkage.ErrInvalid)
	require.ErrorContains(t, err, "party 0 uploaded 128-byte CLKs")
	// An upload in error (size 0) holds no one to a size and is held to none.
	_, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 2, Records: 5, HashSize: 0, Problem: "odd size", UploadedAt: t0, Attempt: attempts[2]})
	require.NoError(t, err)
	parties, err := s.ListParties(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.UploadUploading, parties[1].State, "the refused upload keeps its claim for the caller to release")
	require.Equal(t, attempts[1], parties[1].Attempt)
	_, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 1, Records: 5, HashSize: 128, UploadedAt: t0, Attempt: attempts[1]})
	require.NoError(t, err)
}

func testUploadClaimRace(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p := newProject(t, s, 2, t0)
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	attempts := make([]string, n)
	for i := range n {
		wg.Go(func() { attempts[i], errs[i] = s.ClaimUpload(ctx, p.ID, 1, t0, t0.Add(-time.Hour)) })
	}
	wg.Wait()
	won := ""
	for i, err := range errs {
		if err == nil {
			require.Empty(t, won, "exactly one concurrent claim of an update token wins")
			won = attempts[i]
		} else {
			require.ErrorIs(t, err, linkage.ErrConflict)
		}
	}
	require.NotEmpty(t, won, "one concurrent claim of an update token wins")
	parties, err := s.ListParties(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, won, parties[1].Attempt)
}

func testStaleClaimIsRetaken(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p := newProject(t, s, 2, t0)
	claim(t, s, p.ID, 0, t0, t0.Add(-time.Hour))
	// Not stale yet.
	_, err := s.ClaimUpload(ctx, p.ID, 0, t0.Add(time.Minute), t0.Add(-time.Minute))
	require.ErrorIs(t, err, linkage.ErrConflict)
	// The claiming process died long ago.
	claim(t, s, p.ID, 0, t0.Add(2*time.Hour), t0.Add(time.Hour))
}

// A stalled attempt whose claim was retaken (A), then its retry (B): A can neither record nor
// release the party, whichever comes first, and B's upload is the one recorded.
func testClaimBelongsToOneAttempt(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p := newProject(t, s, 2, t0)
	r := newRun(t, s, p.ID, t0)
	upload(t, s, p.ID, 1, 3)
	a := claim(t, s, p.ID, 0, t0, t0.Add(-time.Hour))
	b := claim(t, s, p.ID, 0, t0.Add(2*time.Hour), t0.Add(time.Hour)) // A went stale
	require.NotEqual(t, a, b)

	// A wakes up while B is uploading: A's release and completion change nothing.
	err := s.ReleaseUpload(ctx, p.ID, 0, a)
	require.ErrorIs(t, err, linkage.ErrConflict)
	require.ErrorContains(t, err, "taken over by another upload attempt")
	queued, err := s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 0, Records: 99, HashSize: 128,
		ReceiptTokenHash: linkage.HashToken("a"), UploadedAt: t0, Attempt: a})
	require.ErrorIs(t, err, linkage.ErrConflict)
	require.Empty(t, queued)
	parties, err := s.ListParties(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.UploadUploading, parties[0].State)
	require.Equal(t, b, parties[0].Attempt)
	require.True(t, t0.Add(2*time.Hour).Equal(parties[0].ClaimedAt))
	require.Zero(t, parties[0].Records)
	got, err := s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.RunCreated, got.State, "a losing attempt queues no run")

	// B completes: its record, and the run is queued by it.
	queued, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 0, Records: 5, HashSize: 128,
		ReceiptTokenHash: linkage.HashToken("b"), UploadedAt: t0.Add(2 * time.Hour), Attempt: b})
	require.NoError(t, err)
	require.Equal(t, []string{r.ID}, queued)

	// A wakes up after B completed: still nothing.
	err = s.ReleaseUpload(ctx, p.ID, 0, a)
	require.ErrorIs(t, err, linkage.ErrConflict)
	require.ErrorContains(t, err, "another upload attempt with the token was recorded")
	_, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 0, Records: 99, HashSize: 128,
		ReceiptTokenHash: linkage.HashToken("a"), UploadedAt: t0, Attempt: a})
	require.ErrorIs(t, err, linkage.ErrConflict)
	// Nor can B release what it recorded.
	require.ErrorIs(t, s.ReleaseUpload(ctx, p.ID, 0, b), linkage.ErrConflict)

	parties, err = s.ListParties(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.UploadDone, parties[0].State)
	require.Equal(t, b, parties[0].Attempt)
	require.EqualValues(t, 5, parties[0].Records)
	require.Equal(t, linkage.HashToken("b"), parties[0].ReceiptTokenHash)
	require.True(t, t0.Add(2*time.Hour).Equal(parties[0].UploadedAt))
}

// An attempt that released its claim (a refused upload) cannot record the party after all,
// nor release the claim of the next attempt; the next attempt is unaffected.
func testReleasedClaimIsNotCompleted(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p := newProject(t, s, 2, t0)
	stale := t0.Add(-time.Hour)
	c := claim(t, s, p.ID, 1, t0, stale)
	require.NoError(t, s.ReleaseUpload(ctx, p.ID, 1, c))
	err := s.ReleaseUpload(ctx, p.ID, 1, c)
	require.ErrorIs(t, err, linkage.ErrConflict)
	require.ErrorContains(t, err, "holds no claim")
	_, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 1, Records: 4, HashSize: 64, UploadedAt: t0, Attempt: c})
	require.ErrorIs(t, err, linkage.ErrConflict)
	d := claim(t, s, p.ID, 1, t0, stale)
	require.ErrorIs(t, s.ReleaseUpload(ctx, p.ID, 1, c), linkage.ErrConflict)
	_, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 1, Records: 4, HashSize: 64, UploadedAt: t0, Attempt: c})
	require.ErrorIs(t, err, linkage.ErrConflict)
	_, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: 1, Records: 6, HashSize: 64, UploadedAt: t0, Attempt: d})
	require.NoError(t, err)
	parties, err := s.ListParties(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.UploadDone, parties[1].State)
	require.Equal(t, d, parties[1].Attempt)
	require.EqualValues(t, 6, parties[1].Records)
	// Unknown parties and projects are not found, whoever asks.
	require.ErrorIs(t, s.ReleaseUpload(ctx, p.ID, 5, d), linkage.ErrNotFound)
	_, err = s.CompleteUpload(ctx, linkage.Party{ProjectID: linkage.NewID(), Index: 0, Attempt: d})
	require.ErrorIs(t, err, linkage.ErrNotFound)
}

func testRunsWaitForUploads(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p := newProject(t, s, 3, t0)
	r := newRun(t, s, p.ID, t0)
	require.Equal(t, linkage.RunCreated, r.State)
	require.Equal(t, linkage.StageUploads, r.Stage)
	require.Empty(t, upload(t, s, p.ID, 0, 10))
	require.Empty(t, upload(t, s, p.ID, 2, 10))
	r2 := newRun(t, s, p.ID, t0.Add(time.Second))
	require.Equal(t, linkage.RunCreated, r2.State)
	queued := upload(t, s, p.ID, 1, 10)
	require.ElementsMatch(t, []string{r.ID, r2.ID}, queued)
	got, err := s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.RunQueued, got.State)
	active, err := s.ActiveRuns(ctx)
	require.NoError(t, err)
	require.Len(t, active, 2)
}

func testRunOnCompleteProjectIsQueued(t *testing.T, s linkage.Store) {
	p := newProject(t, s, 2, t0)
	upload(t, s, p.ID, 0, 10)
	upload(t, s, p.ID, 1, 10)
	r := newRun(t, s, p.ID, t0)
	require.Equal(t, linkage.RunQueued, r.State)
}

// twoChunks is the plan of chunksFor: two chunks of 50 comparisons.
var twoChunks = linkage.RunPlan{Chunks: 2, Comparisons: 100, ChunkComparisons: 50}

func chunksFor(runID string) []linkage.Chunk {
	return []linkage.Chunk{
		{RunID: runID, Index: 0, PartyA: 0, PartyB: 1, ALo: 0, AHi: 5, BLo: 0, BHi: 10},
		{RunID: runID, Index: 1, PartyA: 0, PartyB: 1, ALo: 5, AHi: 10, BLo: 0, BHi: 10},
	}
}

func readyRun(t *testing.T, s linkage.Store) (*linkage.Project, *linkage.Run) {
	t.Helper()
	p := newProject(t, s, 2, t0)
	upload(t, s, p.ID, 0, 10)
	upload(t, s, p.ID, 1, 10)
	return p, newRun(t, s, p.ID, t0)
}

func testRunLifecycle(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p, r := readyRun(t, s)
	require.NoError(t, s.StartRun(ctx, r.ID, twoChunks, chunksFor(r.ID), t0.Add(time.Second)))
	got, err := s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.RunRunning, got.State)
	require.Equal(t, linkage.StageCompare, got.Stage)
	require.EqualValues(t, 100, got.Total)
	require.Zero(t, got.Progress)
	require.True(t, t0.Add(time.Second).Equal(got.StartedAt))
	require.Equal(t, r.Name, got.Name)
	require.Equal(t, r.Notes, got.Notes)
	require.Equal(t, 0.8, got.Threshold)

	chunks, err := s.ListChunks(ctx, r.ID)
	require.NoError(t, err)
	require.Len(t, chunks, 2)
	require.Equal(t, chunksFor(r.ID), chunks)
	require.Equal(t, 2, got.Chunks)
	require.Equal(t, 2, got.ChunksPlanned)
	require.Zero(t, got.ChunksDone)
	require.EqualValues(t, 50, got.ChunkComparisons)

	a, _, err := s.BeginChunk(ctx, r.ID, 0)
	require.NoError(t, err)
	require.Equal(t, 1, a)
	require.NoError(t, s.ChunkProgress(ctx, r.ID, 0, 20))
	got, err = s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.EqualValues(t, 20, got.Progress)

	remaining, err := s.CompleteChunk(ctx, r.ID, 0, 3)
	require.NoError(t, err)
	require.Equal(t, 1, remaining)
	// Idempotent: computed twice.
	remaining, err = s.CompleteChunk(ctx, r.ID, 0, 3)
	require.NoError(t, err)
	require.Equal(t, 1, remaining)
	remaining, err = s.CompleteChunk(ctx, r.ID, 1, 4)
	require.NoError(t, err)
	require.Zero(t, remaining)

	// A done chunk's row is gone; the run's counters hold what is left of it.
	_, err = s.GetChunk(ctx, r.ID, 1)
	require.ErrorIs(t, err, linkage.ErrNotFound)
	chunks, err = s.ListChunks(ctx, r.ID)
	require.NoError(t, err)
	require.Empty(t, chunks)
	_, err = s.CompleteChunk(ctx, r.ID, 7, 1)
	require.ErrorIs(t, err, linkage.ErrNotFound, "never planned")

	got, err = s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.EqualValues(t, 100, got.Progress)
	require.Equal(t, 2, got.ChunksDone)
	require.EqualValues(t, 7, got.Candidates, "3 + 4, chunk 0 counted once")

	a, _, err = s.BeginSolve(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, 1, a)
	a, _, err = s.BeginSolve(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, 2, a)
	got, err = s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.StageSolve, got.Stage)

	require.NoError(t, s.CompleteRun(ctx, r.ID, "s1", t0.Add(time.Minute)))
	got, err = s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.RunCompleted, got.State)
	require.True(t, t0.Add(time.Minute).Equal(got.CompletedAt))
	require.ErrorIs(t, s.CompleteRun(ctx, r.ID, "s1", t0), linkage.ErrConflict)
	require.ErrorIs(t, s.FailRun(ctx, r.ID, "late", t0), linkage.ErrConflict)
	_, _, err = s.BeginSolve(ctx, r.ID)
	require.ErrorIs(t, err, linkage.ErrConflict)

	active, err := s.ActiveRuns(ctx)
	require.NoError(t, err)
	require.Empty(t, active)
}

func testStartRunOnce(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p, r := readyRun(t, s)
	require.NoError(t, s.StartRun(ctx, r.ID, twoChunks, chunksFor(r.ID), t0))
	require.ErrorIs(t, s.StartRun(ctx, r.ID, twoChunks, chunksFor(r.ID)[:1], t0), linkage.ErrConflict)
	chunks, err := s.ListChunks(ctx, r.ID)
	require.NoError(t, err)
	require.Len(t, chunks, 2)

	// A run waiting for uploads cannot start.
	r2 := newRun(t, s, newProject(t, s, 2, t0).ID, t0)
	require.ErrorIs(t, s.StartRun(ctx, r2.ID, twoChunks, chunksFor(r2.ID), t0), linkage.ErrConflict)
	_ = p
}

// fiveChunks is a plan of 10 × 10 comparisons in five chunks of two rows of party 0 each.
func fiveChunks(runID string, from, n int) []linkage.Chunk {
	var cs []linkage.Chunk
	for i := from; i < from+n; i++ {
		cs = append(cs, linkage.Chunk{RunID: runID, Index: i, PartyA: 0, PartyB: 1, ALo: int64(2 * i), AHi: int64(2*i + 2), BLo: 0, BHi: 10})
	}
	return cs
}

// A run's chunks are planned a window at a time: only planned chunks not done have rows, the
// run's counters say how far planning and completion went, and progress is the done chunks'
// comparisons plus the open chunks' progress (hand-computed below at each step).
// allocated is the bytes the Go heap allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// ListingsReadNoBlobs: the public project listing, run listings and the reconciler's (and rate
// sampler's) pass over active runs read ids, states and counters only, never a project's schema
// or notes nor a run's name or notes: each call allocates less than one of those values, however
// many rows hold them.
func testListingsReadNoBlobs(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	const rows = 8
	big := strings.Repeat("x", 1<<20)
	var want []linkage.RunCounters
	var pid string
	for i := range rows {
		at := t0.Add(time.Duration(i) * time.Second)
		p := &linkage.Project{ID: linkage.NewID(), Name: big, Notes: big, Schema: json.RawMessage(`{"version":1,"x":"` + big + `"}`),
			ResultType: linkage.ResultGroups, NumberParties: 2, ResultTokenHash: linkage.HashToken("result"), CreatedAt: at}
		parties := []linkage.Party{{ProjectID: p.ID, Index: 0, UpdateTokenHash: linkage.HashToken(p.ID + "a"), State: linkage.UploadPending},
			{ProjectID: p.ID, Index: 1, UpdateTokenHash: linkage.HashToken(p.ID + "b"), State: linkage.UploadPending}}
		require.NoError(t, s.CreateProject(ctx, p, parties))
		upload(t, s, p.ID, 0, 10)
		upload(t, s, p.ID, 1, 10)
		r := &linkage.Run{ID: linkage.NewID(), ProjectID: p.ID, Name: big, Notes: big, Threshold: 0.8, CreatedAt: at}
		require.NoError(t, s.CreateRun(ctx, r))
		c := linkage.RunCounters{ID: r.ID, ProjectID: p.ID, State: linkage.RunQueued, Stage: linkage.StageUploads}
		if i == 0 { // one running, part way through its first chunk
			require.NoError(t, s.StartRun(ctx, r.ID, twoChunks, chunksFor(r.ID)[:1], at))
			require.NoError(t, s.ChunkProgress(ctx, r.ID, 0, 20))
			c = linkage.RunCounters{ID: r.ID, ProjectID: p.ID, State: linkage.RunRunning, Stage: linkage.StageCompare, Progress: 20,
				Chunks: 2, ChunksPlanned: 1, ChunkComparisons: 50}
		}
		want = append(want, c)
		pid = p.ID
	}
	runtime.GC()
	var active []linkage.RunCounters
	var err error
	n := allocated(func() { active, err = s.ActiveRuns(ctx) })
	require.NoError(t, err)
	require.Equal(t, want, active)
	require.Less(t, n, uint64(len(big)), "ActiveRuns allocated %d bytes for %d runs", n, rows)

	var projects []linkage.ProjectEntry
	n = allocated(func() { projects, err = s.ListProjects(ctx, "", 100) })
	require.NoError(t, err)
	require.Len(t, projects, rows)
	require.Less(t, n, uint64(len(big)), "ListProjects allocated %d bytes for %d projects", n, rows)

	var runs []linkage.RunEntry
	n = allocated(func() { runs, err = s.ListRuns(ctx, pid, "", 100) })
	require.NoError(t, err)
	require.Len(t, runs, 1)
	require.Less(t, n, uint64(len(big)), "ListRuns allocated %d bytes", n)
}

func testChunkWindow(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p, r := readyRun(t, s)
	plan := linkage.RunPlan{Chunks: 5, Comparisons: 100, ChunkComparisons: 20}
	require.NoError(t, s.StartRun(ctx, r.ID, plan, fiveChunks(r.ID, 0, 2), t0))
	state := func(planned, done int, candidates, progress int64, open ...int) {
		t.Helper()
		got, err := s.GetRun(ctx, p.ID, r.ID)
		require.NoError(t, err)
		require.Equal(t, [4]int64{5, int64(planned), int64(done), candidates}, [4]int64{int64(got.Chunks), int64(got.ChunksPlanned), int64(got.ChunksDone), got.Candidates},
			"chunks, planned, done, candidates")
		require.Equal(t, progress, got.Progress, "progress")
		require.EqualValues(t, 100, got.Total)
		chunks, err := s.ListChunks(ctx, r.ID)
		require.NoError(t, err)
		var idx []int
		for _, c := range chunks {
			idx = append(idx, c.Index)
		}
		require.Equal(t, open, idx, "open chunks")
	}
	state(2, 0, 0, 0, 0, 1)

	// Planning follows on from the planned chunks, within the plan.
	require.ErrorIs(t, s.PlanChunks(ctx, r.ID, fiveChunks(r.ID, 1, 2)), linkage.ErrConflict, "planned already")
	require.ErrorIs(t, s.PlanChunks(ctx, r.ID, fiveChunks(r.ID, 3, 1)), linkage.ErrConflict, "a gap")
	require.ErrorIs(t, s.PlanChunks(ctx, r.ID, fiveChunks(r.ID, 2, 4)), linkage.ErrConflict, "beyond the plan")
	require.ErrorIs(t, s.PlanChunks(ctx, linkage.NewID(), fiveChunks(r.ID, 2, 1)), linkage.ErrNotFound)
	state(2, 0, 0, 0, 0, 1)

	require.NoError(t, s.ChunkProgress(ctx, r.ID, 1, 7))
	state(2, 0, 0, 7, 0, 1)
	remaining, err := s.CompleteChunk(ctx, r.ID, 0, 3)
	require.NoError(t, err)
	require.Equal(t, 4, remaining, "chunks of the plan not done, planned or not")
	state(2, 1, 3, 20+7, 1)
	require.NoError(t, s.PlanChunks(ctx, r.ID, fiveChunks(r.ID, 2, 2)))
	state(4, 1, 3, 27, 1, 2, 3)
	c, err := s.GetChunk(ctx, r.ID, 3)
	require.NoError(t, err)
	require.Equal(t, fiveChunks(r.ID, 3, 1)[0], *c)

	// Completing a done chunk again (a redelivery) counts nothing twice.
	remaining, err = s.CompleteChunk(ctx, r.ID, 0, 3)
	require.NoError(t, err)
	require.Equal(t, 4, remaining)
	state(4, 1, 3, 27, 1, 2, 3)
	_, err = s.CompleteChunk(ctx, r.ID, 4, 1)
	require.ErrorIs(t, err, linkage.ErrNotFound, "not planned yet")
	_, err = s.GetChunk(ctx, r.ID, 4)
	require.ErrorIs(t, err, linkage.ErrNotFound)

	for _, i := range []int{3, 1, 2} {
		_, err = s.CompleteChunk(ctx, r.ID, i, 10)
		require.NoError(t, err)
	}
	state(4, 4, 33, 80)
	require.NoError(t, s.PlanChunks(ctx, r.ID, fiveChunks(r.ID, 4, 1)))
	require.NoError(t, s.ChunkProgress(ctx, r.ID, 4, 5))
	state(5, 4, 33, 85, 4)
	remaining, err = s.CompleteChunk(ctx, r.ID, 4, 0)
	require.NoError(t, err)
	require.Zero(t, remaining)
	state(5, 5, 33, 100)
	require.ErrorIs(t, s.PlanChunks(ctx, r.ID, fiveChunks(r.ID, 5, 1)), linkage.ErrConflict)

	// A run that is not running plans nothing.
	_, r2 := readyRun(t, s)
	require.ErrorIs(t, s.PlanChunks(ctx, r2.ID, fiveChunks(r2.ID, 0, 1)), linkage.ErrConflict)
}

// Workers completing and planning at once: each chunk counted once, one planner wins per point.
func testChunkWindowRaces(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p, r := readyRun(t, s)
	plan := linkage.RunPlan{Chunks: 5, Comparisons: 100, ChunkComparisons: 20}
	require.NoError(t, s.StartRun(ctx, r.ID, plan, fiveChunks(r.ID, 0, 3), t0))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	planned, sawAllDone := 0, 0
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			remaining, err := s.CompleteChunk(ctx, r.ID, g%3, 1) // each of chunks 0..2 twice
			perr := s.PlanChunks(ctx, r.ID, fiveChunks(r.ID, 3, 2))
			mu.Lock()
			defer mu.Unlock()
			if remaining == 2 {
				sawAllDone++
			}
			if perr == nil {
				planned++
			} else if !errors.Is(perr, linkage.ErrConflict) {
				errs = append(errs, perr)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Equal(t, 1, planned, "one planner wins")
	require.GreaterOrEqual(t, sawAllDone, 1, "the last of the three completions saw 2 remaining")
	got, err := s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.Equal(t, 5, got.ChunksPlanned)
	require.Equal(t, 3, got.ChunksDone)
	require.EqualValues(t, 3, got.Candidates)
	require.EqualValues(t, 60, got.Progress)
	chunks, err := s.ListChunks(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, fiveChunks(r.ID, 3, 2), chunks)
}

// A hand-back at shutdown gives its attempt back; a done chunk stays done, a finished run keeps its count.
func testAttemptsGivenBack(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	_, r := readyRun(t, s)
	require.NoError(t, s.StartRun(ctx, r.ID, twoChunks, chunksFor(r.ID), t0))
	a, _, err := s.BeginChunk(ctx, r.ID, 0)
	require.NoError(t, err)
	require.Equal(t, 1, a)
	require.NoError(t, s.ReturnChunkAttempt(ctx, r.ID, 0))
	a, _, err = s.BeginChunk(ctx, r.ID, 0)
	require.NoError(t, err)
	require.Equal(t, 1, a, "the handed-back attempt was not counted")
	_, err = s.CompleteChunk(ctx, r.ID, 0, 3)
	require.NoError(t, err)
	require.NoError(t, s.ReturnChunkAttempt(ctx, r.ID, 0))
	_, err = s.GetChunk(ctx, r.ID, 0)
	require.ErrorIs(t, err, linkage.ErrNotFound, "a done chunk stays done")

	_, err = s.CompleteChunk(ctx, r.ID, 1, 0)
	require.NoError(t, err)
	a, _, err = s.BeginSolve(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, 1, a)
	require.NoError(t, s.ReturnSolveAttempt(ctx, r.ID))
	a, _, err = s.BeginSolve(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, 1, a)
}

// The cause of a failed attempt comes back with the next attempt, for the run's error message
// once the attempts are exhausted.
func testLastErrorRecorded(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	_, r := readyRun(t, s)
	require.NoError(t, s.StartRun(ctx, r.ID, twoChunks, chunksFor(r.ID), t0))
	_, last, err := s.BeginChunk(ctx, r.ID, 1)
	require.NoError(t, err)
	require.Empty(t, last)
	require.NoError(t, s.ChunkAttemptFailed(ctx, r.ID, 1, "first cause"))
	require.NoError(t, s.ChunkAttemptFailed(ctx, r.ID, 1, "second cause"))
	a, last, err := s.BeginChunk(ctx, r.ID, 1)
	require.NoError(t, err)
	require.Equal(t, 2, a)
	require.Equal(t, "second cause", last)
	_, last, err = s.BeginChunk(ctx, r.ID, 0)
	require.NoError(t, err)
	require.Empty(t, last, "another chunk's cause")

	_, last, err = s.BeginSolve(ctx, r.ID)
	require.NoError(t, err)
	require.Empty(t, last)
	require.NoError(t, s.SolveAttemptFailed(ctx, r.ID, "solve cause"))
	a, last, err = s.BeginSolve(ctx, r.ID)
	require.NoError(t, err)
	require.Equal(t, 2, a)
	require.Equal(t, "solve cause", last)
}

func testProgressNeverDecreases(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p, r := readyRun(t, s)
	require.NoError(t, s.StartRun(ctx, r.ID, twoChunks, chunksFor(r.ID), t0))
	require.NoError(t, s.ChunkProgress(ctx, r.ID, 1, 30))
	// A retry of the chunk reports from zero again.
	a, _, err := s.BeginChunk(ctx, r.ID, 1)
	require.NoError(t, err)
	require.Equal(t, 1, a)
	a, _, err = s.BeginChunk(ctx, r.ID, 1)
	require.NoError(t, err)
	require.Equal(t, 2, a)
	require.NoError(t, s.ChunkProgress(ctx, r.ID, 1, 10))
	got, err := s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.EqualValues(t, 30, got.Progress)
	c, err := s.GetChunk(ctx, r.ID, 1)
	require.NoError(t, err)
	require.Equal(t, 2, c.Attempts)
}

// Two solves of a run: the first completion records its attempt, whose blobs the run serves; the
// second is refused and changes nothing, so its blobs are never read. A failed run records none.
func testCompletionRecordsOneSolve(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p, r := readyRun(t, s)
	require.NoError(t, s.StartRun(ctx, r.ID, twoChunks, chunksFor(r.ID), t0))
	for i := range 2 {
		_, err := s.CompleteChunk(ctx, r.ID, i, 1)
		require.NoError(t, err)
	}
	for range 2 {
		_, _, err := s.BeginSolve(ctx, r.ID)
		require.NoError(t, err)
	}
	got, err := s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.Empty(t, got.ResultAttempt, "running: no result recorded")
	require.NoError(t, s.CompleteRun(ctx, r.ID, "second", t0.Add(time.Minute)))
	require.ErrorIs(t, s.CompleteRun(ctx, r.ID, "first", t0.Add(2*time.Minute)), linkage.ErrConflict)
	got, err = s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.RunCompleted, got.State)
	require.Equal(t, "second", got.ResultAttempt, "the late completion replaced the recorded result")
	require.True(t, t0.Add(time.Minute).Equal(got.CompletedAt))

	p2, r2 := readyRun(t, s)
	require.NoError(t, s.FailRun(ctx, r2.ID, "gave up", t0))
	require.ErrorIs(t, s.CompleteRun(ctx, r2.ID, "late", t0), linkage.ErrConflict)
	got, err = s.GetRun(ctx, p2.ID, r2.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.RunError, got.State)
	require.Empty(t, got.ResultAttempt)
}

func testFailRun(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p, r := readyRun(t, s)
	require.NoError(t, s.FailRun(ctx, r.ID, "CLK lengths differ", t0.Add(time.Hour)))
	got, err := s.GetRun(ctx, p.ID, r.ID)
	require.NoError(t, err)
	require.Equal(t, linkage.RunError, got.State)
	require.Equal(t, "CLK lengths differ", got.Message)
	require.True(t, t0.Add(time.Hour).Equal(got.CompletedAt))
	require.ErrorIs(t, s.StartRun(ctx, r.ID, twoChunks, chunksFor(r.ID), t0), linkage.ErrConflict)
	require.ErrorIs(t, s.FailRun(ctx, r.ID, "again", t0), linkage.ErrConflict)
	require.ErrorIs(t, s.FailRun(ctx, linkage.NewID(), "x", t0), linkage.ErrNotFound)
}

func testDeleteRun(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p, r := readyRun(t, s)
	require.NoError(t, s.StartRun(ctx, r.ID, twoChunks, chunksFor(r.ID), t0))
	require.NoError(t, s.DeleteRun(ctx, p.ID, r.ID))
	_, err := s.GetRun(ctx, p.ID, r.ID)
	require.ErrorIs(t, err, linkage.ErrNotFound)
	chunks, err := s.ListChunks(ctx, r.ID)
	require.NoError(t, err)
	require.Empty(t, chunks)
	require.ErrorIs(t, s.DeleteRun(ctx, p.ID, r.ID), linkage.ErrNotFound)
	// Work on a deleted run reports it gone.
	_, err = s.CompleteChunk(ctx, r.ID, 0, 1)
	require.ErrorIs(t, err, linkage.ErrNotFound)
	require.ErrorIs(t, s.CompleteRun(ctx, r.ID, "s1", t0), linkage.ErrNotFound)
}

func testDeleteProjectCascades(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	p, r := readyRun(t, s)
	require.NoError(t, s.StartRun(ctx, r.ID, twoChunks, chunksFor(r.ID), t0))
	other, otherRun := readyRun(t, s)
	require.NoError(t, s.DeleteProject(ctx, p.ID))
	_, err := s.GetProject(ctx, p.ID)
	require.ErrorIs(t, err, linkage.ErrNotFound)
	_, err = s.GetRun(ctx, p.ID, r.ID)
	require.ErrorIs(t, err, linkage.ErrNotFound)
	parties, err := s.ListParties(ctx, p.ID)
	require.NoError(t, err)
	require.Empty(t, parties)
	chunks, err := s.ListChunks(ctx, r.ID)
	require.NoError(t, err)
	require.Empty(t, chunks)
	runs, err := s.ListRuns(ctx, p.ID, "", 10)
	require.NoError(t, err)
	require.Empty(t, runs)
	// The other project is untouched.
	_, err = s.GetRun(ctx, other.ID, otherRun.ID)
	require.NoError(t, err)
	n, err := s.CountProjects(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

func testRunBelongsToProject(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	_, r := readyRun(t, s)
	other := newProject(t, s, 2, t0)
	_, err := s.GetRun(ctx, other.ID, r.ID)
	require.ErrorIs(t, err, linkage.ErrNotFound)
	require.ErrorIs(t, s.DeleteRun(ctx, other.ID, r.ID), linkage.ErrNotFound)
	r2 := newRun(t, s, other.ID, t0)
	r3 := newRun(t, s, other.ID, t0.Add(time.Second))
	r4 := newRun(t, s, other.ID, t0.Add(time.Second)) // same time as r3: ordered by id then
	runs, err := s.ListRuns(ctx, other.ID, "", 10)
	require.NoError(t, err)
	// No uploads in other yet: its runs wait.
	second, third := r3.ID, r4.ID
	if third < second {
		second, third = third, second
	}
	entry := func(id string, at time.Time) linkage.RunEntry {
		return linkage.RunEntry{ID: id, State: linkage.RunCreated, CreatedAt: at}
	}
	require.Equal(t, []linkage.RunEntry{entry(r2.ID, t0), entry(second, t0.Add(time.Second)), entry(third, t0.Add(time.Second))}, runs)
	// Pages: after a run, at most limit; another project's run id is no cursor here.
	page, err := s.ListRuns(ctx, other.ID, r2.ID, 1)
	require.NoError(t, err)
	require.Equal(t, []linkage.RunEntry{entry(second, t0.Add(time.Second))}, page)
	page, err = s.ListRuns(ctx, other.ID, second, 5)
	require.NoError(t, err)
	require.Equal(t, []linkage.RunEntry{entry(third, t0.Add(time.Second))}, page)
	page, err = s.ListRuns(ctx, other.ID, third, 5)
	require.NoError(t, err)
	require.Empty(t, page)
	page, err = s.ListRuns(ctx, other.ID, r.ID, 5)
	require.NoError(t, err)
	require.Empty(t, page)
}

func testCountRuns(t *testing.T, s linkage.Store) {
	ctx := context.Background()
	_, r := readyRun(t, s)
	readyRun(t, s)
	newRun(t, s, newProject(t, s, 2, t0).ID, t0)
	require.NoError(t, s.FailRun(ctx, r.ID, "x", t0))
	counts, err := s.CountRuns(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, counts[linkage.RunError])
	require.Equal(t, 1, counts[linkage.RunQueued])
	require.Equal(t, 1, counts[linkage.RunCreated])
}

// MigratedChunks checks a store migrated (0004_chunk_window) from the schema where a run's
// chunks were all rows, with run "r" of project "p" holding chunks 0 and 2 done (30 comparisons,
// 3 and 4 candidates) and chunk 1 (rows 3..7 of party 0 × 0..10 of party 1) at progress 7
// after one attempt: the done chunks became the run's counters, the open one stays a row.
func MigratedChunks(t *testing.T, s linkage.Store) {
	t.Helper()
	ctx := context.Background()
	r, err := s.GetRun(ctx, "p", "r")
	require.NoError(t, err)
	require.Equal(t, [3]int{3, 3, 2}, [3]int{r.Chunks, r.ChunksPlanned, r.ChunksDone}, "chunks, planned, done")
	require.EqualValues(t, 7, r.Candidates)
	require.EqualValues(t, 30+30+7, r.Progress)
	chunks, err := s.ListChunks(ctx, "r")
	require.NoError(t, err)
	require.Equal(t, []linkage.Chunk{{RunID: "r", Index: 1, PartyA: 0, PartyB: 1, ALo: 3, AHi: 7, BLo: 0, BHi: 10, Progress: 7, Attempts: 1}}, chunks)
	remaining, err := s.CompleteChunk(ctx, "r", 1, 5)
	require.NoError(t, err)
	require.Zero(t, remaining)
}

// MigratedResults checks a store migrated (0006_result_attempt) from the schema before solve
// attempts had ids, with project "p" holding run "done" completed and run "solving" running
// (stage 2, chunks 0 of 0) then: the completed run reads its result at the old keys, where it
// was written, and the running one records the attempt that completes it.
func MigratedResults(t *testing.T, s linkage.Store) {
	t.Helper()
	ctx := context.Background()
	r, err := s.GetRun(ctx, "p", "done")
	require.NoError(t, err)
	require.Equal(t, linkage.RunCompleted, r.State)
	require.Empty(t, r.ResultAttempt)
	require.Equal(t, "projects/p/runs/done/result.json", linkage.ResultKey("p", "done", r.ResultAttempt, linkage.PartResult),
		"read where it was written")
	require.Equal(t, "projects/p/runs/done/result-histogram.json", linkage.HistogramKey("p", "done", r.ResultAttempt))
	require.ErrorIs(t, s.CompleteRun(ctx, "done", "late", t0), linkage.ErrConflict)

	require.NoError(t, s.CompleteRun(ctx, "solving", "s1", t0))
	r, err = s.GetRun(ctx, "p", "solving")
	require.NoError(t, err)
	require.Equal(t, "s1", r.ResultAttempt)
	r, err = s.GetRun(ctx, "p", "done")
	require.NoError(t, err)
	require.Empty(t, r.ResultAttempt, "another run's completion changed this one")
}
