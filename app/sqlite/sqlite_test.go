package sqlite_test

import (
	"context"
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
	require.Equal(t, []string{"0001_init.sql", "0002_party_problem.sql", "0003_last_error.sql", "0004_chunk_window.sql"}, applied)
	applied, err = db.Migrate(context.Background())
	require.NoError(t, err)
	require.Empty(t, applied)
	require.NoError(t, db.CheckSchema(context.Background()))
}
