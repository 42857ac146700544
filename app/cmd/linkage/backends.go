package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/linkage-platform/linkage/app/fs"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/memqueue"
	"github.com/linkage-platform/linkage/app/postgres"
	"github.com/linkage-platform/linkage/app/redis"
	"github.com/linkage-platform/linkage/app/s3"
	"github.com/linkage-platform/linkage/app/sqlite"
)

// backendConfig selects the database, the queue and the blob store. Empty URLs mean the
// embedded defaults under --data-dir: an SQLite file, an in-process queue, a directory.
type backendConfig struct {
	dataDir     *string
	databaseURL *string
	redisURL    *string
	blobURL     *string
}

func registerBackends(f *flags) *backendConfig {
	return &backendConfig{
		dataDir:     f.String("data-dir", "./data", "directory of the embedded defaults (SQLite file, blobs)"),
		databaseURL: f.String("database-url", "", "database: sqlite:PATH (default: DATA_DIR/linkage.db) or postgres://user:password@host:5432/db?sslmode=require"),
		redisURL:    f.String("redis-url", "", "task queue: redis://[:password@]host:6379/0[?visibility-timeout=30s&max-attempts=5&key-prefix=linkage]; empty for the in-process queue (all-in-one only)"),
		blobURL:     f.String("blob-url", "", "blob store: file:DIR (default: DATA_DIR/blobs) or s3://bucket/prefix[?region=&endpoint=&path-style=&upload-role=&public-endpoint=]"),
	}
}

// database is a Store that can migrate its schema.
type database interface {
	linkage.Store
	Migrate(ctx context.Context) ([]string, error)
	CheckSchema(ctx context.Context) error
}

// openDatabase opens the Store named by --database-url.
func openDatabase(ctx context.Context, c *backendConfig) (database, error) {
	u := *c.databaseURL
	switch {
	case u == "":
		if err := os.MkdirAll(*c.dataDir, 0o750); err != nil {
			return nil, fmt.Errorf("--data-dir %s: %w", *c.dataDir, err)
		}
		return sqlite.Open(filepath.Join(*c.dataDir, "linkage.db"))
	case strings.HasPrefix(u, "sqlite:"):
		path, err := localPath("--database-url", u, "sqlite:", "a file path", "/var/lib/linkage/linkage.db")
		if err != nil {
			return nil, err
		}
		return sqlite.Open(path)
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		db, err := postgres.Open(ctx, u)
		if err != nil {
			return nil, fmt.Errorf("--database-url %s: %w", redact(u), err)
		}
		return db, nil
	}
	return nil, fmt.Errorf("--database-url %q: unsupported scheme (want sqlite: or postgres://)", redact(u))
}

// localPath is the path of a scheme:PATH (or scheme://PATH) URL given to flag; what names an
// empty path, and an example of one, go into the error.
func localPath(flag, u, scheme, what, example string) (string, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(u, scheme), "//")
	if path == "" {
		return "", fmt.Errorf("%s %s needs %s, e.g. %s%s", flag, scheme, what, scheme, example)
	}
	return path, nil
}

// openBlobs opens the BlobStore named by --blob-url.
func openBlobs(ctx context.Context, c *backendConfig) (linkage.BlobStore, error) {
	u := *c.blobURL
	switch {
	case u == "":
		return fs.New(filepath.Join(*c.dataDir, "blobs"))
	case strings.HasPrefix(u, "file:"):
		dir, err := localPath("--blob-url", u, "file:", "a directory", "/var/lib/linkage/blobs")
		if err != nil {
			return nil, err
		}
		return fs.New(dir)
	case strings.HasPrefix(u, "s3://"):
		cfg, err := s3.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("--blob-url: %w", err)
		}
		return s3.Open(ctx, cfg)
	}
	return nil, fmt.Errorf("--blob-url %q: unsupported scheme (want file: or s3://)", redact(u))
}

// openQueue opens the Queue named by --redis-url; the in-process queue only if inProcess
// (API and workers in one process), since separate processes could not share it.
func openQueue(_ context.Context, c *backendConfig, log *slog.Logger, inProcess bool) (linkage.Queue, error) {
	u := *c.redisURL
	if u == "" {
		if !inProcess {
			return nil, errors.New("--redis-url is required: the in-process queue only works in all-in-one")
		}
		return memqueue.New(memqueue.Options{Logger: log}), nil
	}
	if strings.HasPrefix(u, "redis://") || strings.HasPrefix(u, "rediss://") {
		q, err := redis.Open(u, log)
		if err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		return q, nil
	}
	return nil, fmt.Errorf("--redis-url %q: unsupported scheme (want redis:// or rediss://)", redact(u))
}

// redact hides a URL's password in messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}
