package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// startAllInOne runs `linkage all-in-one` with args on a free address until the returned
// cancel, and waits until it is ready; done receives the command's result.
func startAllInOne(t *testing.T, args []string, stderr io.Writer) (base string, done <-chan error, cancel context.CancelFunc) {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, append([]string{"all-in-one", "--addr", addr}, args...), io.Discard, stderr)
	}()
	base = "http://" + addr
	waitReady(t, base)
	return base, errc, cancel
}

// waitReady waits until the server at base answers /readyz with 200.
func waitReady(t *testing.T, base string) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)
}

// linkBinaryFile links the shared 1000-record file with itself at 0.99 as a two-party groups
// project, through the API, and waits for the run to complete.
func linkBinaryFile(t *testing.T, base string) (pid, resultToken, runID string) {
	t.Helper()
	file := "../../../../shared/testdata/binary/clks_128B_1k.json"
	r := apiLink(t, base, "groups", 0.99, []string{file, file})
	return r.pid, r.resultToken, r.runID
}

// TestAllInOne runs the command as `make run` does (data in a fresh directory), links two
// uploads through the API, and shuts it down gracefully.
func TestAllInOne(t *testing.T) {
	dir := t.TempDir()
	base, done, cancel := startAllInOne(t, []string{"--data-dir", dir, "--log-level", "warn"}, io.Discard)
	pid, rt, rid := linkBinaryFile(t, base)
	groups, err := client.New(base, nil).Groups(t.Context(), pid, rid, rt)
	require.NoError(t, err)
	require.Len(t, groups, 1000)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(40 * time.Second):
		t.Fatal("all-in-one did not stop")
	}
	_, err = os.Stat(filepath.Join(dir, "linkage.db"))
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "projects", pid, "uploads"))
	require.NoError(t, err)
	require.Len(t, entries, 2)
}
