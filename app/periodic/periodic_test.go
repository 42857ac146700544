package periodic_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/periodic"
)

func TestEveryRepeatsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls, done := make(chan struct{}, 100), make(chan struct{})
	go func() {
		periodic.Every(ctx, time.Millisecond, func() { calls <- struct{}{} })
		close(done)
	}()
	for i := range 3 {
		select {
		case <-calls:
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d did not come", i+1)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not return after cancel")
	}
	n := len(calls)
	require.Equal(t, n, len(calls), "no call after Every returned")
}

func TestEveryWaitsBeforeTheFirstCall(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	periodic.Every(ctx, time.Hour, func() { called = true })
	require.False(t, called, "cancelled before the first interval: no call")
}
