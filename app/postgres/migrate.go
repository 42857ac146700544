package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/linkage-platform/linkage/app/migration"
)

// migrations are the schema versions, applied in order of their numeric prefix
// ("0001_init.sql"). A file, once released, is never edited: changes are new files.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key serializing migrators (a Kubernetes Job may overlap
// an all-in-one start, or two Jobs of successive rollouts may overlap).
const migrationLock = 0x6c696e6b616765 // "linkage"

// Migrate applies the migrations not applied yet, each in its own transaction under an
// advisory lock, and returns the names of those applied.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	ms, err := migration.Load(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms {
		ok := false
		err := db.withTx(ctx, "migration "+m.Name, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
				return wrap("migration "+m.Name+": lock", err)
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
				return wrap("create schema_migrations", err)
			}
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.Version).Scan(&done); err != nil {
				return wrap("migration "+m.Name, err)
			}
			if done {
				return nil
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return wrap("migration "+m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return wrap("migration "+m.Name+": record", err)
			}
			ok = true
			return nil
		})
		if err != nil {
			return applied, err
		}
		if ok {
			applied = append(applied, m.Name)
		}
	}
	return applied, nil
}

// CheckSchema fails when the schema is older than this binary (migrate not run).
func (db *DB) CheckSchema(ctx context.Context) error {
	ms, err := migration.Load(migrations, "migrations")
	if err != nil {
		return err
	}
	var v *int
	err = db.pool.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v)
	if err != nil && unavailable(err) {
		return wrap("check schema", err)
	}
	if err != nil || v == nil || *v < ms[len(ms)-1].Version {
		return fmt.Errorf("database schema is not up to date (run `linkage migrate`)")
	}
	return nil
}
