package main

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSmokeNeedsAURL(t *testing.T) {
	t.Setenv("LINKAGE_API_URL", "")
	var out bytes.Buffer
	err := run(context.Background(), []string{"smoke"}, &out, &out)
	require.ErrorContains(t, err, "--api-url")
}

// The smoke test passes against the real service: all-in-one with its embedded defaults.
func TestSmokePassesAgainstAllInOne(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		var logs bytes.Buffer
		served <- run(ctx, []string{"all-in-one", "--addr", addr, "--data-dir", t.TempDir()}, &logs, &logs)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("all-in-one did not stop")
		}
	})

	var out bytes.Buffer
	err = run(context.Background(), []string{"smoke", "--api-url", "http://" + addr, "--timeout", "60s", "--records", "50"}, &out, &out)
	require.NoError(t, err, out.String())
	require.Contains(t, out.String(), "smoke test passed")
}
