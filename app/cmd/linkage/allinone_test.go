package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func call(t *testing.T, method, url, token string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
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
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	return base, errc, cancel
}

// linkBinaryFile links the shared 1000-record file with itself at 0.99 as a two-party groups
// project, through the API, and waits for the run to complete.
func linkBinaryFile(t *testing.T, base string) (pid, resultToken, runID string) {
	t.Helper()
	clks, err := os.ReadFile("../../../../shared/testdata/binary/clks_128B_1k.json")
	require.NoError(t, err)
	status, p := call(t, "POST", base+"/api/v1/projects", "", []byte(`{"schema":{},"result_type":"groups"}`))
	require.Equal(t, http.StatusCreated, status)
	pid, rt := p["project_id"].(string), p["result_token"].(string)
	for _, tok := range p["update_tokens"].([]any) {
		status, _ := call(t, "POST", base+"/api/v1/projects/"+pid+"/clks", tok.(string), clks)
		require.Equal(t, http.StatusCreated, status)
	}
	status, r := call(t, "POST", base+"/api/v1/projects/"+pid+"/runs", rt, []byte(`{"threshold":0.99}`))
	require.Equal(t, http.StatusCreated, status)
	rid := r["run_id"].(string)
	require.Eventually(t, func() bool {
		_, st := call(t, "GET", fmt.Sprintf("%s/api/v1/projects/%s/runs/%s/status", base, pid, rid), rt, nil)
		return st["state"] == "completed"
	}, 30*time.Second, 20*time.Millisecond)
	return pid, rt, rid
}

// TestAllInOne runs the command as `make run` does (data in a fresh directory), links two
// uploads through the API, and shuts it down gracefully.
func TestAllInOne(t *testing.T) {
	dir := t.TempDir()
	base, done, cancel := startAllInOne(t, []string{"--data-dir", dir, "--log-level", "warn"}, io.Discard)
	pid, rt, rid := linkBinaryFile(t, base)
	runURL := fmt.Sprintf("%s/api/v1/projects/%s/runs/%s", base, pid, rid)
	status, res := call(t, "GET", runURL+"/result", rt, nil)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, res["groups"], 1000)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(40 * time.Second):
		t.Fatal("all-in-one did not stop")
	}
	_, err := os.Stat(filepath.Join(dir, "linkage.db"))
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Join(dir, "blobs", "projects", pid, "uploads"))
	require.NoError(t, err)
	require.Len(t, entries, 2)
}
