package main

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestWorkerExportsTheRate: a `linkage worker` process, which serves no API, exports
// linkage_comparison_rate on its /metrics: the comparisons it made over the last minute, per second.
func TestWorkerExportsTheRate(t *testing.T) {
	base, metrics := startServeAndWorker(t)
	linkBinaryFile(t, base) // 1000 × 1000 records, no blocking: 10⁶ pairs, all by this worker
	resp, err := http.Get("http://" + metrics + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 1e6, metricValue(t, string(body), "linkage_comparisons_total"))
	require.InDelta(t, 1e6/60, metricValue(t, string(body), "linkage_comparison_rate"), 1e-6, "10⁶ comparisons within the minute")
}

// metricValue is the value of an unlabelled metric in a Prometheus text exposition.
func metricValue(t *testing.T, exposition, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(exposition)
	require.NotNil(t, m, "no %s in\n%s", name, exposition)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}
