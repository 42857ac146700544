package postgres

import (
	"context"
	"errors"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/linkage/storetest"
	"github.com/linkage-platform/linkage/app/migration"
)

// testURL returns a connection URL to a fresh schema of the database named by
// LINKAGE_TEST_POSTGRES_URL (dropped afterwards); the test is skipped without it.
func testURL(t *testing.T) string {
	t.Helper()
	raw := os.Getenv("LINKAGE_TEST_POSTGRES_URL")
	if raw == "" {
		t.Skip("LINKAGE_TEST_POSTGRES_URL not set (make services; eval \"$(make -s services-env)\")")
	}
	ctx := context.Background()
	schema := "test_" + linkage.NewID()[:16]
	conn, err := pgx.Connect(ctx, raw)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, raw)
		if err == nil {
			conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(ctx)
		}
	})
	u, err := url.Parse(raw)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), testURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(context.Background())
	require.NoError(t, err)
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) linkage.Store { return openTest(t) })
}

func TestMigrate(t *testing.T) {
	db, err := Open(context.Background(), testURL(t))
	require.NoError(t, err)
	defer db.Close()
	ctx := context.Background()
	require.Error(t, db.CheckSchema(ctx), "a fresh database is not migrated")

	// Concurrent migrators (a Job overlapping a start-up) apply each version once.
	var wg sync.WaitGroup
	results := make([][]string, 3)
	errs := make([]error, 3)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = db.Migrate(ctx) })
	}
	wg.Wait()
	var applied []string
	for i := range results {
		require.NoError(t, errs[i])
		applied = append(applied, results[i]...)
	}
	require.ElementsMatch(t, []string{"0001_init.sql", "0002_party_problem.sql", "0003_last_error.sql", "0004_chunk_window.sql", "0005_upload_attempt.sql", "0006_result_attempt.sql"}, applied)
	require.NoError(t, db.CheckSchema(ctx))
	again, err := db.Migrate(ctx)
	require.NoError(t, err)
	require.Empty(t, again)
}

// The last two chunks completed at once: exactly one completion sees none remaining (and so
// enqueues the solve).
func TestCompleteLastChunksConcurrently(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	for round := range 5 {
		p := &linkage.Project{ID: linkage.NewID(), Schema: []byte(`{}`), ResultType: linkage.ResultGroups, NumberParties: 2,
			ResultTokenHash: linkage.HashToken("r"), CreatedAt: time.Now()}
		require.NoError(t, db.CreateProject(ctx, p, []linkage.Party{{Index: 0, UpdateTokenHash: []byte("a")}, {Index: 1, UpdateTokenHash: []byte("b")}}))
		for i := range 2 {
			attempt, err := db.ClaimUpload(ctx, p.ID, i, time.Now(), time.Now().Add(-time.Hour))
			require.NoError(t, err)
			_, err = db.CompleteUpload(ctx, linkage.Party{ProjectID: p.ID, Index: i, Records: 10, HashSize: 8, UploadedAt: time.Now(), Attempt: attempt})
			require.NoError(t, err)
		}
		r := &linkage.Run{ID: linkage.NewID(), ProjectID: p.ID, Threshold: 0.8, CreatedAt: time.Now()}
		require.NoError(t, db.CreateRun(ctx, r))
		var chunks []linkage.Chunk
		for i := range 8 {
			chunks = append(chunks, linkage.Chunk{Index: i, PartyA: 0, PartyB: 1, ALo: int64(i), AHi: int64(i + 1), BLo: 0, BHi: 10})
		}
		require.NoError(t, db.StartRun(ctx, r.ID, linkage.RunPlan{Chunks: 8, Comparisons: 80, ChunkComparisons: 10}, chunks, time.Now()))
		var wg sync.WaitGroup
		remaining := make([]int, len(chunks))
		for i := range chunks {
			wg.Go(func() {
				n, err := db.CompleteChunk(ctx, r.ID, i, 1)
				require.NoError(t, err)
				remaining[i] = n
			})
		}
		wg.Wait()
		zeros := 0
		for _, n := range remaining {
			if n == 0 {
				zeros++
			}
		}
		require.Equal(t, 1, zeros, "round %d: remaining %v", round, remaining)
	}
}

// A server that cannot be reached yields linkage.ErrUnavailable (the API's 503).
func TestUnreachableIsUnavailable(t *testing.T) {
	db, err := Open(context.Background(), "postgres://linkage:linkage@127.0.0.1:1/none?connect_timeout=2")
	require.NoError(t, err, "the pool connects lazily")
	defer db.Close()
	ctx := context.Background()
	require.ErrorIs(t, db.Ping(ctx), linkage.ErrUnavailable)
	_, err = db.GetProject(ctx, linkage.NewID())
	require.ErrorIs(t, err, linkage.ErrUnavailable)
	require.True(t, errors.Is(db.CreateRun(ctx, &linkage.Run{ID: "x", ProjectID: "y"}), linkage.ErrUnavailable))
}

// A query the server rejects is not "unavailable".
func TestQueryErrorIsNotUnavailable(t *testing.T) {
	db := openTest(t)
	_, err := db.pool.Exec(context.Background(), "SELECT * FROM no_such_table")
	require.Error(t, err)
	require.False(t, unavailable(err))
}

// Runs started before chunks were planned lazily had every chunk as a row: migration 0004
// turns the done ones into the run's counters and keeps the others open.
func TestMigrateCountsDoneChunks(t *testing.T) {
	db, applied := migrateFrom(t, 3,
		`INSERT INTO projects (id, name, notes, schema, result_type, number_parties, uses_blocking, result_token_hash, created_at)
			VALUES ('p', '', '', '{}', 'groups', 2, false, '\x00', now())`,
		`INSERT INTO runs (id, project_id, name, notes, threshold, state, stage, total, created_at) VALUES ('r', 'p', '', '', 0.8, 'running', 2, 100, now())`,
		// chunks 0 and 2 done (3 and 4 candidates), chunk 1 at progress 7 of 40.
		`INSERT INTO chunks (run_id, idx, party_a, party_b, a_lo, a_hi, b_lo, b_hi, progress, candidates, attempts, done) VALUES
			('r', 0, 0, 1, 0, 3, 0, 10, 30, 3, 1, true), ('r', 1, 0, 1, 3, 7, 0, 10, 7, 0, 1, false), ('r', 2, 0, 1, 7, 10, 0, 10, 30, 4, 2, true)`,
	)
	require.Equal(t, []string{"0004_chunk_window.sql", "0005_upload_attempt.sql", "0006_result_attempt.sql"}, applied)
	storetest.MigratedChunks(t, db)
}

// Runs completed before solve attempts had ids read their result where it was written:
// migration 0006 leaves their result attempt "" (the old keys).
func TestMigrateKeepsEarlierResults(t *testing.T) {
	db, applied := migrateFrom(t, 5,
		`INSERT INTO projects (id, name, notes, schema, result_type, number_parties, uses_blocking, result_token_hash, created_at)
			VALUES ('p', '', '', '{}', 'groups', 2, false, '\x00', now())`,
		`INSERT INTO runs (id, project_id, name, notes, threshold, state, stage, created_at, completed_at)
			VALUES ('done', 'p', '', '', 0.8, 'completed', 3, now(), now()), ('solving', 'p', '', '', 0.8, 'running', 2, now(), NULL)`,
	)
	require.Equal(t, []string{"0006_result_attempt.sql"}, applied)
	storetest.MigratedResults(t, db)
}

// migrateFrom builds a database at its first `at` migrations, adds rows written by the code of
// that time, then opens and migrates it, returning the store and the migrations applied.
func migrateFrom(t *testing.T, at int, rows ...string) (*DB, []string) {
	t.Helper()
	ctx := context.Background()
	u := testURL(t)
	conn, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	defer conn.Close(ctx)
	ms, err := migration.Load(migrations, "migrations")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`)
	require.NoError(t, err)
	for _, m := range ms[:at] {
		_, err = conn.Exec(ctx, m.SQL)
		require.NoError(t, err, m.Name)
		_, err = conn.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name)
		require.NoError(t, err)
	}
	for _, q := range rows {
		_, err = conn.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	db, err := Open(ctx, u)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	applied, err := db.Migrate(ctx)
	require.NoError(t, err)
	return db, applied
}
