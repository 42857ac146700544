package http_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
	"github.com/linkage-platform/linkage/app/fs"
	linkhttp "github.com/linkage-platform/linkage/app/http"
	"github.com/linkage-platform/linkage/app/rate"
	"github.com/linkage-platform/linkage/app/sqlite"
)

// TestStatusAndMetricsShareTheRate: /status and /metrics report the one meter they are given.
func TestStatusAndMetricsShareTheRate(t *testing.T) {
	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "linkage.db"))
	require.NoError(t, err)
	defer store.Close()
	_, err = store.Migrate(context.Background())
	require.NoError(t, err)
	blobs, err := fs.New(filepath.Join(dir, "blobs"))
	require.NoError(t, err)
	meter := rate.NewMeter(time.Minute)
	meter.Add(60 * 1234)
	srv := httptest.NewServer(linkhttp.New(linkhttp.Config{Store: store, Blobs: blobs, Logger: quietLogger(), Rate: meter.Rate}))
	defer srv.Close()

	st, err := client.New(srv.URL, nil).Status(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1234.0, st.Rate)
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), "\nlinkage_comparison_rate 1234\n")
}
