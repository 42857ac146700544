package rate

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
)

// fakeStore serves ActiveRuns and GetRun from a map the test changes between samples.
type fakeStore struct {
	linkage.Store
	runs   map[string]*linkage.Run
	active map[string]bool
}

func (f *fakeStore) ActiveRuns(context.Context) ([]linkage.RunCounters, error) {
	var out []linkage.RunCounters
	for id := range f.active {
		out = append(out, f.runs[id].Counters())
	}
	return out, nil
}

func (f *fakeStore) GetRun(_ context.Context, _, id string) (*linkage.Run, error) {
	r, ok := f.runs[id]
	if !ok {
		return nil, linkage.ErrNotFound
	}
	c := *r
	return &c, nil
}

func TestSample(t *testing.T) {
	st := &fakeStore{
		runs:   map[string]*linkage.Run{"a": {ID: "a", Progress: 1_000_000}, "gone": {ID: "gone", Progress: 500}},
		active: map[string]bool{"a": true, "gone": true},
	}
	s := NewSampler(st, time.Second, slog.Default())
	ctx := context.Background()
	require.NoError(t, s.Sample(ctx))
	require.Zero(t, s.Rate(), "the first sample is the baseline: progress made before it is not recent")

	st.runs["a"].Progress += 600                         // grew
	st.runs["b"] = &linkage.Run{ID: "b", Progress: 1200} // started since
	st.active["b"] = true
	delete(st.active, "gone") // finished: its last progress counts
	st.runs["gone"].Progress = 2300
	require.NoError(t, s.Sample(ctx))
	require.InDelta(t, float64(600+1200+1800)/60, s.Rate(), 1e-9, "per second over the minute")

	delete(st.active, "b")
	delete(st.runs, "b") // deleted while running: nothing more to count
	require.NoError(t, s.Sample(ctx))
	require.InDelta(t, float64(600+1200+1800)/60, s.Rate(), 1e-9)
}
