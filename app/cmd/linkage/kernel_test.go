package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
	"github.com/linkage-platform/linkage/app/engine"
)

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	return string(b)
}

// TestKernelForcedAndReported: LINKAGE_KERNEL forces the tier, and the start-up log, /version
// and linkage_kernel_info name it; a run links with it. portable runs everywhere and is never
// the default on amd64, where every CPU has POPCNT.
func TestKernelForcedAndReported(t *testing.T) {
	t.Setenv("LINKAGE_KERNEL", "portable")
	t.Cleanup(func() { require.NoError(t, engine.UseKernel("")) })
	var logs syncBuffer
	base, _, _ := startAllInOne(t, []string{"--data-dir", t.TempDir()}, &logs)
	require.Contains(t, get(t, base+"/api/v1/version"), "(kernel portable)")
	require.Contains(t, get(t, base+"/metrics"), `linkage_kernel_info{tier="portable"} 1`)
	require.Contains(t, logs.String(), `"msg":"dice kernel","tier":"portable"`)
	pid, rt, rid := linkBinaryFile(t, base)
	groups, err := client.New(base, nil).Groups(t.Context(), pid, rid, rt)
	require.NoError(t, err)
	require.Len(t, groups, 1000)
}

// TestKernelRefused: an unknown tier, or one this CPU lacks, stops the command at start-up
// with the tier's name and the reason.
func TestKernelRefused(t *testing.T) {
	t.Cleanup(func() { require.NoError(t, engine.UseKernel("")) })
	ctx := context.Background()
	clks := filepath.Join("..", "..", "..", "..", "shared", "testdata", "binary", "clks_128B_1k.json")

	t.Setenv("LINKAGE_KERNEL", "avx1024")
	err := run(ctx, []string{"all-in-one", "--data-dir", t.TempDir(), "--addr", freeAddr(t)}, io.Discard, io.Discard)
	require.EqualError(t, err, `--kernel (LINKAGE_KERNEL): unknown kernel tier "avx1024": want one of portable, popcnt, avx2, avx512bw, avx512`)
	err = run(ctx, []string{"link", "--threshold", "0.9", clks, clks}, io.Discard, io.Discard)
	require.ErrorContains(t, err, `link: --kernel (LINKAGE_KERNEL): unknown kernel tier "avx1024"`)
	err = run(ctx, []string{"link", "--kernel", "sse", "--threshold", "0.9", clks, clks}, io.Discard, io.Discard)
	require.ErrorContains(t, err, `unknown kernel tier "sse"`, "the flag wins over the variable")

	for _, tier := range engine.KernelTiers() {
		if engine.UseKernel(tier) == nil {
			continue
		}
		// A tier this machine cannot run: refused the same way.
		t.Setenv("LINKAGE_KERNEL", tier)
		err := run(ctx, []string{"worker", "--data-dir", t.TempDir()}, io.Discard, io.Discard)
		require.ErrorContains(t, err, `--kernel (LINKAGE_KERNEL): kernel tier "`+tier+`"`)
		require.ErrorContains(t, err, "which this CPU lacks")
	}
}
