package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	linkhttp "github.com/linkage-platform/linkage/app/http"
)

// FuzzConfig sets one flag of all-in-one (the superset of serve's and worker's) from the command
// line or from its environment variable: the value is rejected with an error naming the flag,
// or it validates and wires without panicking into values in range.
func FuzzConfig(f *testing.F) {
	fs := newFlags("all-in-one", "", io.Discard)
	registerBackends(fs)
	fault := registerFault(fs, apiFaults, workerFaults)
	registerAPI(fs, fault)
	registerWorker(fs, fault)
	registerLogLevel(fs)
	fs.fs.VisitAll(func(fl *flag.Flag) {
		for _, v := range []string{fl.DefValue, "0", "-1", "1e309", "NaN", "2.5", "9223372036854775808", "", "x"} {
			f.Add(fl.Name, v, false)
			f.Add(fl.Name, v, true)
		}
	})
	f.Fuzz(func(t *testing.T, name, value string, fromEnv bool) {
		fs := newFlags("all-in-one", "", io.Discard)
		registerBackends(fs)
		fault := registerFault(fs, apiFaults, workerFaults)
		api := registerAPI(fs, fault)
		wf := registerWorker(fs, fault)
		level := registerLogLevel(fs)
		if fs.fs.Lookup(name) == nil {
			return
		}
		args := []string{"--" + name + "=" + value}
		if fromEnv && strings.IndexByte(value, 0) < 0 { // an environment cannot hold NUL
			t.Setenv(envName(name), value)
			args = nil
		}
		if err := fs.parse(args); err != nil {
			want := name
			if args == nil {
				want = envName(name)
			}
			require.Contains(t, err.Error(), want)
			return
		}
		if api.validate() != nil || wf.validate() != nil {
			return
		}
		if _, err := newLogger(io.Discard, *level); err != nil {
			return
		}
		cfg := api.serverConfig(&process{}, nil, nil)
		l := cfg.Limits
		require.Positive(t, cfg.UploadTimeout)
		require.Positive(t, cfg.UploadIdleTimeout)
		require.Positive(t, cfg.BodyTimeout)
		require.GreaterOrEqual(t, l.MaxTokenBytes, linkhttp.Base64Len(l.MaxHashSize))
		require.Positive(t, l.MaxUploadBytes)
		require.Positive(t, l.MaxUploadRecords)
		require.GreaterOrEqual(t, l.MaxParties, 2)
		require.GreaterOrEqual(t, l.MaxHashSize, 8)
		c := wf.config()
		require.Positive(t, c.Concurrency)
		require.Positive(t, c.ChunkComparisons)
		require.Positive(t, c.MaxAttempts)
		require.True(t, c.Histogram.Floor >= 0 && c.Histogram.Floor < 1)
	})
}
