package worker_test

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/worker"
)

// TestRunStartRefusesMixedSizes: the stores refuse to record uploads of different CLK sizes,
// but a project uploaded before they checked may hold them. A run over it fails at start,
// naming both sizes, instead of reading one party's rows at the other's stride.
func TestRunStartRefusesMixedSizes(t *testing.T) {
	f := newFixture(t, 0.8, parties(t))
	// Party 1's 2720 bytes recorded as 340 CLKs of 8 bytes (party 0's are 16), as an old row may say.
	db, err := sql.Open("sqlite", "file:"+f.path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	_, err = db.ExecContext(t.Context(), `UPDATE parties SET hash_size = 8, records = 340 WHERE project_id = ? AND idx = 1`, f.pid)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	r := failed(t, f, worker.Config{})
	require.Equal(t, "CLKs of party 0 are 16 bytes but those of party 1 are 8 bytes: all parties must use the same encoding size", r.Message)
	require.Zero(t, r.Chunks, "failed before planning")
}
