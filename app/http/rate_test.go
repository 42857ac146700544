package http

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/sqlite"
)

func TestProgressRate(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "db"))
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Migrate(ctx)
	require.NoError(t, err)
	p := &linkage.Project{ID: linkage.NewID(), Schema: []byte(`{}`), ResultType: linkage.ResultGroups, NumberParties: 2, ResultTokenHash: linkage.HashToken("x")}
	require.NoError(t, db.CreateProject(ctx, p, []linkage.Party{{Index: 0, UpdateTokenHash: []byte("a")}, {Index: 1, UpdateTokenHash: []byte("b")}}))
	for i := range 2 {
		require.NoError(t, db.ClaimUpload(ctx, p.ID, i, time.Now(), time.Now()))
		_, err := db.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: i, Records: 100, HashSize: 8})
		require.NoError(t, err)
	}
	r := &linkage.Run{ID: linkage.NewID(), ProjectID: p.ID, Threshold: 0.5}
	require.NoError(t, db.CreateRun(ctx, r))
	require.NoError(t, db.StartRun(ctx, r.ID, []linkage.Chunk{{RunID: r.ID, PartyB: 1, AHi: 100, BHi: 100}}, time.Now()))

	now := time.Unix(1000, 0)
	pr := &progressRate{store: db, now: func() time.Time { return now }}
	rate, err := pr.Rate(ctx)
	require.NoError(t, err)
	require.Zero(t, rate, "no history yet")
	require.NoError(t, db.ChunkProgress(ctx, r.ID, 0, 4000))
	now = now.Add(500 * time.Millisecond)
	rate, err = pr.Rate(ctx)
	require.NoError(t, err)
	require.Zero(t, rate, "samples less than a second apart reuse the last estimate")
	now = now.Add(1500 * time.Millisecond)
	rate, err = pr.Rate(ctx)
	require.NoError(t, err)
	require.InDelta(t, 2000, rate, 1e-9)
}
