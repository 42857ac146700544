package fs_test

import (
	"testing"

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
