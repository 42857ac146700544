package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/linkage-platform/linkage/app/migration"
)

// migrations are the schema versions, applied in order of their numeric prefix
// ("0001_init.sql"). A file, once released, is never edited: changes are new files.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migrate applies the migrations not applied yet, each in its own transaction, and returns
// the names of those applied. Safe to run concurrently: the transactions are IMMEDIATE, so a
// second migrator waits and then finds the versions applied.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := migration.Load(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if _, err := db.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var applied []string
	for _, m := range ms {
		ok, err := db.applyMigration(ctx, m)
		if err != nil {
			return applied, err
		}
		if ok {
			applied = append(applied, m.Name)
		}
	}
	return applied, nil
}

func (db *DB) applyMigration(ctx context.Context, m migration.File) (bool, error) {
	tx, err := db.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migration %s: begin: %w", m.Name, err)
	}
	defer func() { _ = tx.Rollback() }()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixNano()); err != nil {
		return false, fmt.Errorf("migration %s: record: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %s: commit: %w", m.Name, err)
	}
	return true, nil
}

// CheckSchema fails when the schema is older than this binary (migrate not run).
func (db *DB) CheckSchema(ctx context.Context) error {
	ms, err := migration.Load(migrations, "migrations")
	if err != nil {
		return err
	}
	var v sql.NullInt64
	err = db.db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	if err != nil || !v.Valid || int(v.Int64) < ms[len(ms)-1].Version {
		return fmt.Errorf("database schema is not up to date (run `linkage migrate`)")
	}
	return nil
}
