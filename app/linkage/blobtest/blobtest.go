// Package blobtest is the behaviour suite every linkage.BlobStore implementation must pass.
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
)

// Run runs the suite. open must return an empty store; it is called once per subtest.
func Run(t *testing.T, open func(t *testing.T) linkage.BlobStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s linkage.BlobStore)
	}{
		{"PutGet", testPutGet},
		{"Overwrite", testOverwrite},
		{"Missing", testMissing},
		{"Large", testLarge},
		{"FailedPutLeavesNothing", testFailedPutLeavesNothing},
		{"DeletePrefix", testDeletePrefix},
		{"Concurrent", testConcurrent},
		{"Range", testRange},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func get(t *testing.T, s linkage.BlobStore, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func testPutGet(t *testing.T, s linkage.BlobStore) {
	n, err := s.Put(context.Background(), "projects/a/uploads/0.clk", strings.NewReader("hello"))
	require.NoError(t, err)
	require.EqualValues(t, 5, n)
	require.Equal(t, "hello", string(get(t, s, "projects/a/uploads/0.clk")))
	n, err = s.Put(context.Background(), "empty", strings.NewReader(""))
	require.NoError(t, err)
	require.Zero(t, n)
	require.Empty(t, get(t, s, "empty"))
}

func testOverwrite(t *testing.T, s linkage.BlobStore) {
	ctx := context.Background()
	_, err := s.Put(ctx, "k/x", strings.NewReader("first, longer"))
	require.NoError(t, err)
	_, err = s.Put(ctx, "k/x", strings.NewReader("second"))
	require.NoError(t, err)
	require.Equal(t, "second", string(get(t, s, "k/x")))
}

func testMissing(t *testing.T, s linkage.BlobStore) {
	_, err := s.Get(context.Background(), "no/such/key")
	require.ErrorIs(t, err, linkage.ErrNotFound)
	require.NoError(t, s.DeletePrefix(context.Background(), "no/such/"))
}

func testLarge(t *testing.T, s linkage.BlobStore) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	n, err := s.Put(context.Background(), "big/blob", bytes.NewReader(data))
	require.NoError(t, err)
	require.EqualValues(t, len(data), n)
	require.Equal(t, data, get(t, s, "big/blob"))
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(p), r.n)
	for i := range k {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

func testFailedPutLeavesNothing(t *testing.T, s linkage.BlobStore) {
	ctx := context.Background()
	_, err := s.Put(ctx, "f/new", &failingReader{n: 100_000})
	require.Error(t, err)
	_, err = s.Get(ctx, "f/new")
	require.ErrorIs(t, err, linkage.ErrNotFound, "a failed Put must not leave a partial object")

	_, err = s.Put(ctx, "f/old", strings.NewReader("kept"))
	require.NoError(t, err)
	_, err = s.Put(ctx, "f/old", &failingReader{n: 10})
	require.Error(t, err)
	require.Equal(t, "kept", string(get(t, s, "f/old")), "a failed Put keeps the previous object")
}

func testDeletePrefix(t *testing.T, s linkage.BlobStore) {
	ctx := context.Background()
	for _, k := range []string{"projects/p1/uploads/0.clk", "projects/p1/runs/r/result.json", "projects/p10/uploads/0.clk", "projects/p2/x"} {
		_, err := s.Put(ctx, k, strings.NewReader(k))
		require.NoError(t, err)
	}
	require.NoError(t, s.DeletePrefix(ctx, "projects/p1/"))
	for _, k := range []string{"projects/p1/uploads/0.clk", "projects/p1/runs/r/result.json"} {
		_, err := s.Get(ctx, k)
		require.ErrorIs(t, err, linkage.ErrNotFound, k)
	}
	require.Equal(t, "projects/p10/uploads/0.clk", string(get(t, s, "projects/p10/uploads/0.clk")))
	require.Equal(t, "projects/p2/x", string(get(t, s, "projects/p2/x")))
}

func testConcurrent(t *testing.T, s linkage.BlobStore) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			data := bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
			_, err := s.Put(ctx, "same/key", bytes.NewReader(data))
			require.NoError(t, err)
		})
	}
	wg.Wait()
	b := get(t, s, "same/key")
	require.Len(t, b, 64<<10)
	require.Equal(t, bytes.Repeat(b[:1], 64<<10), b, "concurrent writers never interleave")
}

func testRange(t *testing.T, s linkage.BlobStore) {
	rg, ok := s.(linkage.RangeGetter)
	if !ok {
		t.Skip("store does not implement linkage.RangeGetter")
	}
	ctx := context.Background()
	_, err := s.Put(ctx, "r/k", strings.NewReader("0123456789"))
	require.NoError(t, err)
	rc, err := rg.GetRange(ctx, "r/k", 3, 4)
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, "3456", string(b))
	_, err = rg.GetRange(ctx, "r/missing", 0, 1)
	require.ErrorIs(t, err, linkage.ErrNotFound)
}
