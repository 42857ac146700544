package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLinkHistogram(t *testing.T) {
	// Scores: (a0,b0) = 1, (a0,b1) = 2·4/(8+4) = 0.667, (a1,b0) = 0.667, (a1,b1) = 1.
	a := writeCLKs(t, bytesOf(0xff, 0, 0, 0, 0, 0, 0, 0), bytesOf(0x0f, 0, 0, 0, 0, 0, 0, 0))
	b := writeCLKs(t, bytesOf(0xff, 0, 0, 0, 0, 0, 0, 0), bytesOf(0x0f, 0, 0, 0, 0, 0, 0, 0))
	dir := t.TempDir()
	ctx := context.Background()
	var out bytes.Buffer
	js := filepath.Join(dir, "h.json")
	require.NoError(t, run(ctx, []string{"link", "--threshold", "0.9", "--histogram", js, "--histogram-bins", "5", a, b}, &out, &out))
	var h struct {
		Comparisons int64 `json:"comparisons"`
		Bins        []struct {
			Lo, Hi float64
			Count  int64
		} `json:"bins"`
	}
	raw, err := os.ReadFile(js)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &h))
	require.Equal(t, int64(4), h.Comparisons)
	require.Len(t, h.Bins, 5)
	require.Equal(t, int64(2), h.Bins[1].Count, "[0.6, 0.7): the two 0.667 pairs, below the threshold")
	require.Equal(t, int64(2), h.Bins[4].Count, "[0.9, 1]: the two candidates")

	svg := filepath.Join(dir, "h.svg")
	require.NoError(t, run(ctx, []string{"link", "--threshold", "0.9", "--histogram", svg, "--histogram-scale", "linear", a, b}, &out, &out))
	raw, err = os.ReadFile(svg)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(raw), "<svg"))
	require.Contains(t, string(raw), "threshold 0.9")

	err = run(ctx, []string{"link", "--threshold", "0.9", "--histogram", svg, "--histogram-floor", "1.5", a, b}, &out, &out)
	require.ErrorContains(t, err, "--histogram-floor")
	err = run(ctx, []string{"link", "--threshold", "0.9", "--histogram", svg, "--histogram-scale", "cubic", a, b}, &out, &out)
	require.ErrorContains(t, err, "--histogram-scale")
}
