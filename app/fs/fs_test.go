package fs_test

import (
	"os"
	"path/filepath"
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
	_, err := fs.New(dir)
	require.NoError(t, err)
	require.NoFileExists(t, stale)
	require.FileExists(t, fresh)
	require.FileExists(t, blob)
}
