// Package fs implements linkage.BlobStore on a local directory: the embedded default blob
// store of `linkage all-in-one`. Writes go to a temporary file renamed into place, so readers
// never see a partial object and a failed write leaves the previous object.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/linkage-platform/linkage/app/linkage"
)

// Store keeps each blob as a file under its root directory.
type Store struct {
	root string
}

var (
	_ linkage.BlobStore   = (*Store)(nil)
	_ linkage.RangeGetter = (*Store)(nil)
)

// New returns a store rooted at dir, creating it if needed.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("blob directory %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob directory %s: %w", dir, err)
	}
	if err := sweepTemp(abs, time.Now().Add(-staleTemp)); err != nil {
		return nil, fmt.Errorf("blob directory %s: %w", dir, err)
	}
	return &Store{root: abs}, nil
}

// staleTemp is the age from which a temporary file is a crashed process's leftover: a live
// write touches its file far more often (an upload sends something every few minutes or
// times out).
const staleTemp = 15 * time.Minute

// sweepTemp removes the temporary files of writes a killed process left behind, last modified
// before cutoff.
func sweepTemp(root string, cutoff time.Time) error {
	return filepath.WalkDir(root, func(path string, d iofs.DirEntry, err error) error {
		if err != nil || !strings.HasPrefix(d.Name(), ".tmp-") {
			return err
		}
		if d.IsDir() { // a deleted directory whose removal a crash cut short
			if err := os.RemoveAll(path); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		if info, err := d.Info(); err == nil && info.ModTime().Before(cutoff) {
			if err := os.Remove(path); err != nil && !errors.Is(err, iofs.ErrNotExist) {
				return err
			}
		}
		return nil
	})
}

// path maps a key to a file, refusing keys that would escape the root.
func (s *Store) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("blob key %q: %w", key, linkage.ErrInvalid)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, ".tmp-") {
			return "", fmt.Errorf("blob key %q: %w", key, linkage.ErrInvalid)
		}
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// ctxReader stops a copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (s *Store) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	path, err := s.path(key)
	if err != nil {
		return 0, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return 0, fmt.Errorf("put %s: %w", key, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, ctxReader{ctx, r})
	if err != nil {
		return n, fmt.Errorf("put %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return n, fmt.Errorf("put %s: sync: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return n, fmt.Errorf("put %s: close: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return n, fmt.Errorf("put %s: rename: %w", key, err)
	}
	done = true
	return n, nil
}

func (s *Store) Get(_ context.Context, key string) (io.ReadCloser, error) {
	path, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", key, linkage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return f, nil
}

type sectionReadCloser struct {
	*io.SectionReader
	f *os.File
}

func (s sectionReadCloser) Close() error { return s.f.Close() }

func (s *Store) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	f := rc.(*os.File)
	return sectionReadCloser{io.NewSectionReader(f, offset, length), f}, nil
}

// removeDir removes a directory that writers may still be filling (a run computing while its
// project is deleted): RemoveAll there can end in "directory not empty". The directory is first
// renamed out of the key space (atomic; later writes start a new one, which the caller's sweep
// removes), then removed. A crash in between leaves a .tmp- directory, which New sweeps.
func (s *Store) removeDir(path, prefix string) error {
	grave, err := os.MkdirTemp(s.root, ".tmp-deleted-")
	if err != nil {
		return fmt.Errorf("delete %s: %w", prefix, err)
	}
	if err := os.Rename(path, filepath.Join(grave, "d")); err != nil && !errors.Is(err, iofs.ErrNotExist) {
		os.Remove(grave)
		return fmt.Errorf("delete %s: %w", prefix, err)
	}
	if err := os.RemoveAll(grave); err != nil {
		return fmt.Errorf("delete %s: %w", prefix, err)
	}
	return nil
}

// DeletePrefix removes the blobs under prefix. A prefix ending in "/" is a directory and is
// removed whole; otherwise the matching files of the prefix's directory are removed.
func (s *Store) DeletePrefix(_ context.Context, prefix string) error {
	if strings.HasSuffix(prefix, "/") {
		path, err := s.path(strings.TrimSuffix(prefix, "/"))
		if err != nil {
			return err
		}
		return s.removeDir(path, prefix)
	}
	dirKey, base := "", prefix
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dirKey, base = prefix[:i], prefix[i+1:]
	}
	dir := s.root
	if dirKey != "" {
		p, err := s.path(dirKey)
		if err != nil {
			return err
		}
		dir = p
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", prefix, err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), base) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if e.IsDir() {
			if err := s.removeDir(path, prefix); err != nil {
				return err
			}
		} else if err := os.Remove(path); err != nil && !errors.Is(err, iofs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", prefix, err)
		}
	}
	return nil
}
