package http_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/ratelimit"
	"github.com/linkage-platform/linkage/app/worker"
)

func TestRateLimit(t *testing.T) {
	e := newEnv(t, false, func(c *linkhttp.Config, _ *worker.Config) {
		c.RateLimit = ratelimit.New(ratelimit.Config{Rate: 0.01, Burst: 3})
	})
	for range 3 {
		require.Equal(t, http.StatusOK, e.do("GET", "/status", "", nil).status)
	}
	r := e.do("GET", "/status", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	require.Equal(t, "100", r.header.Get("Retry-After"), "one request refills in 1/rate = 100 s")
	p := r.json(t)
	require.EqualValues(t, 503, p["status"])
	require.Contains(t, p["detail"], "too many requests")

	// Probes and metrics stay reachable while the client is limited.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get(e.srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
}
