package http_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	linkhttp "github.com/linkage-platform/linkage/app/http"
)

// brokenConn is a client that went away: every write of the body fails.
type brokenConn struct {
	h       http.Header
	headers []int // every WriteHeader call
}

func (b *brokenConn) Header() http.Header       { return b.h }
func (b *brokenConn) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
func (b *brokenConn) WriteHeader(code int)      { b.headers = append(b.headers, code) }

// TestErrorAfterHeaderIsNotAnsweredTwice: a handler failing after its status line went out is
// logged at debug, not at error, and gets no second status.
func TestErrorAfterHeaderIsNotAnsweredTwice(t *testing.T) {
	e := newEnv(t, false)
	var logs bytes.Buffer
	srv := linkhttp.New(linkhttp.Config{Store: e.store, Blobs: e.blobs,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	w := &brokenConn{h: http.Header{}}
	srv.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/version", nil))
	require.Equal(t, []int{http.StatusOK}, w.headers, "one status line")
	require.Contains(t, logs.String(), `level=DEBUG msg="response interrupted"`)
	require.Contains(t, logs.String(), "broken pipe")
	require.NotContains(t, logs.String(), "level=ERROR")
}
