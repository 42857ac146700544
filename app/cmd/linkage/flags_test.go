package main

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFlagsFromEnvironment(t *testing.T) {
	var out bytes.Buffer
	f := newFlags("x", "test", &out)
	addr := f.String("addr", ":8851", "listen")
	n := f.Int64("max-upload-records", 5, "records")
	dir := f.String("data-dir", "./data", "dir")
	t.Setenv("LINKAGE_ADDR", ":9999")
	t.Setenv("LINKAGE_MAX_UPLOAD_RECORDS", "42")
	t.Setenv("LINKAGE_DATA_DIR", "/env/dir")
	require.NoError(t, f.parse([]string{"--data-dir", "/flag/dir"}))
	require.Equal(t, ":9999", *addr)
	require.EqualValues(t, 42, *n)
	require.Equal(t, "/flag/dir", *dir, "the command line wins over the environment")
}

func TestFlagsBadEnvironmentNamesVariable(t *testing.T) {
	var out bytes.Buffer
	f := newFlags("x", "test", &out)
	f.Int("max-parties", 100, "parties")
	t.Setenv("LINKAGE_MAX_PARTIES", "many")
	require.ErrorContains(t, f.parse(nil), "LINKAGE_MAX_PARTIES")
}

func TestHelpShowsEnvironment(t *testing.T) {
	var out bytes.Buffer
	err := run(t.Context(), []string{"all-in-one", "--help"}, &out, &out)
	require.Error(t, err)
	for _, want := range []string{"LINKAGE_ADDR", "LINKAGE_DATA_DIR", "LINKAGE_DATABASE_URL", "LINKAGE_REDIS_URL", "LINKAGE_BLOB_URL", "LINKAGE_MAX_UPLOAD_BYTES"} {
		require.Contains(t, out.String(), want)
	}
}

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"migrate", "--data-dir", dir}, &out, &out))
	require.Contains(t, out.String(), "applied 0001_init.sql")
	out.Reset()
	require.NoError(t, run(t.Context(), []string{"migrate", "--data-dir", dir}, &out, &out))
	require.Contains(t, out.String(), "schema up to date")
}

func TestSeparateProcessesNeedMigrationAndSharedQueue(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	for _, cmd := range []string{"serve", "worker"} {
		require.ErrorContains(t, run(t.Context(), []string{cmd, "--data-dir", dir}, &out, &out), "linkage migrate")
	}
	require.NoError(t, run(t.Context(), []string{"migrate", "--data-dir", dir}, &out, &out))
	for _, cmd := range []string{"serve", "worker"} {
		require.ErrorContains(t, run(t.Context(), []string{cmd, "--data-dir", dir}, &out, &out), "--redis-url is required")
	}
}

// --fault-hold accepts every fault point of the process (the worker's, the API's, both in
// all-in-one), and names them all when given another.
func TestFaultHoldPoints(t *testing.T) {
	for _, tc := range []struct {
		points [][]string
		want   string
	}{
		{[][]string{workerFaults}, "start-committed, chunk-compared, chunk-done, solve-started, result-write"},
		{[][]string{apiFaults}, "upload-half-written"},
		{[][]string{apiFaults, workerFaults}, "upload-half-written, start-committed, chunk-compared, chunk-done, solve-started, result-write"},
	} {
		for _, point := range append([]string{""}, slices.Concat(tc.points...)...) {
			var out bytes.Buffer
			f := newFlags("test", "test", &out)
			h := registerFault(f, tc.points...)
			require.NoError(t, f.parse([]string{"--fault-hold", point}))
			require.NoError(t, h.validate(), point)
		}
		var out bytes.Buffer
		f := newFlags("test", "test", &out)
		h := registerFault(f, tc.points...)
		require.NoError(t, f.parse([]string{"--fault-hold", "chunk-finished"}))
		require.EqualError(t, h.validate(), `--fault-hold "chunk-finished": want one of `+tc.want)
	}
	// serve refuses a worker's point: it has no workers to hold.
	err := run(t.Context(), []string{"serve", "--fault-hold", "chunk-done"}, io.Discard, io.Discard)
	require.ErrorContains(t, err, `--fault-hold "chunk-done": want one of upload-half-written`)
}
