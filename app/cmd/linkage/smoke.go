package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/linkage-platform/linkage/app/smoke"
)

// runSmoke checks a running deployment end to end through its public API (see app/smoke).
func runSmoke(ctx context.Context, args []string, _, stderr io.Writer) error {
	f := newFlags("smoke", "Check a running deployment end to end: create a project, upload two parties, run a linkage, check the groups, delete the project.", stderr)
	url := f.String("api-url", "", "service root URL, e.g. https://linkage.example.org")
	timeout := f.Duration("timeout", 5*time.Minute, "bound on the whole check, including waiting for the service to answer")
	records := f.Int("records", 20, "records per party")
	level := registerLogLevel(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if *url == "" {
		return errors.New("smoke: --api-url is required")
	}
	log, err := newLogger(stderr, *level)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c := &smoke.Checker{BaseURL: *url, Records: *records, Log: log}
	if err := c.Run(ctx); err != nil {
		return fmt.Errorf("smoke test of %s: %w", *url, err)
	}
	return nil
}
