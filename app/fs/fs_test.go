package fs_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/fs"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/linkage/blobtest"
)

func TestBlobStore(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) linkage.BlobStore {
		s, err := fs.New(t.TempDir())
		require.NoError(t, err)
		return s
	})
}

func TestKeysCannotEscapeRoot(t *testing.T) {
	s, err := fs.New(t.TempDir())
	require.NoError(t, err)
	for _, key := range []string{"../x", "a/../../x", "/etc/passwd", "", "a/.tmp-x"} {
		_, err := s.Get(t.Context(), key)
		require.ErrorIs(t, err, linkage.ErrInvalid, key)
	}
}

// A process killed while writing leaves a temporary file; the next one to open the directory
// removes it, but not the files of writes that may still be running, nor blobs.
func TestOpenSweepsStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "projects", "p", "uploads")
	require.NoError(t, os.MkdirAll(sub, 0o750))
	write := func(name string, age time.Duration) string {
		p := filepath.Join(sub, name)
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o640))
		at := time.Now().Add(-age)
		require.NoError(t, os.Chtimes(p, at, at))
		return p
	}
	stale := write(".tmp-0-123", time.Hour)
	fresh := write(".tmp-1-456", time.Minute)
	blob := write("0", 24*time.Hour)
	grave := filepath.Join(dir, ".tmp-deleted-789")
	require.NoError(t, os.MkdirAll(filepath.Join(grave, "d", "chunks"), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(grave, "d", "chunks", "0"), []byte("x"), 0o640))
	_, err := fs.New(dir)
	require.NoError(t, err)
	require.NoDirExists(t, grave, "a deletion cut short by a crash is finished")
	require.NoFileExists(t, stale)
	require.FileExists(t, fresh)
	require.FileExists(t, blob)
}

// Deleting a project while a worker still writes under it (a run computing) must succeed: a
// directory removed under a concurrent writer is not empty at its last step.
func TestDeletePrefixWhileWriting(t *testing.T) {
	s, err := fs.New(t.TempDir())
	require.NoError(t, err)
	ctx := t.Context()
	stop, done := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Writes may fail while the directory goes away; only the delete is under test.
			_, _ = s.Put(ctx, fmt.Sprintf("projects/p/chunks/%d", i%64), strings.NewReader("x"))
		}
	}()
	for i := range 2000 {
		require.NoError(t, s.DeletePrefix(ctx, "projects/p/"), "delete %d", i)
	}
}
