package main

import (
	"context"
	"fmt"
	"io"
)

// runMigrate applies the database schema migrations (a Kubernetes Job before each rollout).
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("migrate", "Apply the database schema migrations not applied yet.", stderr)
	backends := registerBackends(f)
	if err := f.parse(args); err != nil {
		return err
	}
	db, err := openDatabase(ctx, backends)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "schema up to date")
	}
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	return nil
}
