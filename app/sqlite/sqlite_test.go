package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/linkage/storetest"
	"github.com/linkage-platform/linkage/app/sqlite"
)

func open(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "linkage.db"))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(context.Background())
	require.NoError(t, err)
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) linkage.Store { return open(t) })
}

func TestMigrateIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "linkage.db")
	db, err := sqlite.Open(path)
	require.NoError(t, err)
	defer db.Close()
	require.Error(t, db.CheckSchema(context.Background()), "a fresh database is not migrated")
	applied, err := db.Migrate(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"0001_init.sql", "0002_party_problem.sql", "0003_last_error.sql", "0004_chunk_window.sql", "0005_upload_attempt.sql", "0006_result_attempt.sql"}, applied)
	applied, err = db.Migrate(context.Background())
	require.NoError(t, err)
	require.Empty(t, applied)
	require.NoError(t, db.CheckSchema(context.Background()))
}

// Runs started before chunks were planned lazily had every chunk as a row: migration 0004
// turns the done ones into the run's counters and keeps the others open.
func TestMigrateCountsDoneChunks(t *testing.T) {
	db, applied := migrateFrom(t, 3,
		`INSERT INTO projects VALUES ('p', '', '', '{}', 'groups', 2, 0, x'00', 1)`,
		`INSERT INTO runs (id, project_id, name, notes, threshold, state, stage, total, created_at) VALUES ('r', 'p', '', '', 0.8, 'running', 2, 100, 1)`,
		// chunks 0 and 2 done (3 and 4 candidates), chunk 1 at progress 7 of 40.
		`INSERT INTO chunks (run_id, idx, party_a, party_b, a_lo, a_hi, b_lo, b_hi, progress, candidates, attempts, done) VALUES
			('r', 0, 0, 1, 0, 3, 0, 10, 30, 3, 1, 1), ('r', 1, 0, 1, 3, 7, 0, 10, 7, 0, 1, 0), ('r', 2, 0, 1, 7, 10, 0, 10, 30, 4, 2, 1)`,
	)
	require.Equal(t, []string{"0004_chunk_window.sql", "0005_upload_attempt.sql", "0006_result_attempt.sql"}, applied)
	storetest.MigratedChunks(t, db)
}

// Uploads recorded before upload attempts had ids read as attempt "": their blobs stay at the
// keys they were written to, and a claim taken before the migration can still be released.
func TestMigrateKeepsEarlierUploads(t *testing.T) {
	ctx := context.Background()
	db, applied := migrateFrom(t, 4,
		`INSERT INTO projects VALUES ('p', '', '', '{}', 'groups', 2, 0, x'00', 1)`,
		`INSERT INTO parties (project_id, idx, update_token_hash, state, claimed_at, records, hash_size, uploaded_at)
			VALUES ('p', 0, x'01', 'done', 1, 5, 128, 2), ('p', 1, x'02', 'uploading', 1, 0, 0, 0)`,
	)
	require.Equal(t, []string{"0005_upload_attempt.sql", "0006_result_attempt.sql"}, applied)
	parties, err := db.ListParties(ctx, "p")
	require.NoError(t, err)
	require.Equal(t, linkage.UploadDone, parties[0].State)
	require.Empty(t, parties[0].Attempt)
	require.Equal(t, "projects/p/uploads/0.clk", linkage.UploadKey("p", 0, parties[0].Attempt), "read where it was written")
	require.NoError(t, db.ReleaseUpload(ctx, "p", 1, parties[1].Attempt))
}

// Runs completed before solve attempts had ids read their result where it was written:
// migration 0006 leaves their result attempt "" (the old keys).
func TestMigrateKeepsEarlierResults(t *testing.T) {
	db, applied := migrateFrom(t, 5,
		`INSERT INTO projects VALUES ('p', '', '', '{}', 'groups', 2, 0, x'00', 1)`,
		`INSERT INTO runs (id, project_id, name, notes, threshold, state, stage, created_at, completed_at)
			VALUES ('done', 'p', '', '', 0.8, 'completed', 3, 1, 2), ('solving', 'p', '', '', 0.8, 'running', 2, 1, 0)`,
	)
	require.Equal(t, []string{"0006_result_attempt.sql"}, applied)
	storetest.MigratedResults(t, db)
}

// migrateFrom builds a database at its first `at` migrations, adds rows written by the code of
// that time, then opens and migrates it, returning the store and the migrations applied.
func migrateFrom(t *testing.T, at int, rows ...string) (*sqlite.DB, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "linkage.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer raw.Close()
	_, err = raw.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`)
	require.NoError(t, err)
	all, err := filepath.Glob("migrations/*.sql")
	require.NoError(t, err)
	require.Greater(t, len(all), at)
	for i, f := range all[:at] {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		_, err = raw.Exec(string(b))
		require.NoError(t, err, f)
		_, err = raw.Exec(`INSERT INTO schema_migrations VALUES (?, ?, 0)`, i+1, filepath.Base(f))
		require.NoError(t, err)
	}
	for _, q := range rows {
		_, err = raw.Exec(q)
		require.NoError(t, err, q)
	}
	db, err := sqlite.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	applied, err := db.Migrate(context.Background())
	require.NoError(t, err)
	return db, applied
}
