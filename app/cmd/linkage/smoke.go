package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/linkage-platform/linkage/app/smoke"
)

// runSmoke checks a running deployment end to end through its public API (see app/smoke).
func runSmoke(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", os.Getenv("LINKAGE_SMOKE_URL"), "service root URL, e.g. https://linkage.example.org (env LINKAGE_SMOKE_URL)")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on the whole check, including waiting for the service to answer")
	records := fs.Int("records", 20, "records per party")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" {
		return errors.New("smoke: --url (or LINKAGE_SMOKE_URL) is required")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := &smoke.Checker{BaseURL: *url, Records: *records, Log: slog.New(slog.NewJSONHandler(stderr, nil))}
	if err := c.Run(ctx); err != nil {
		return fmt.Errorf("smoke test of %s: %w", *url, err)
	}
	return nil
}
