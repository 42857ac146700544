package worker_test

import (
	"context"
	"io"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/client"
	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/fs"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/worker"
)

// wholeReads counts the whole-blob reads (Get) per key; range reads pass through.
type wholeReads struct {
	*fs.Store
	mu sync.Mutex
	n  map[string]int
}

func (c *wholeReads) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	c.mu.Lock()
	c.n[key]++
	c.mu.Unlock()
	return c.Store.Get(ctx, key)
}

// TestChunksReadTheirOwnBlocks: a blocking run of many chunks reads each party's blocks blob
// whole only to estimate and to index it (once per worker task slot at most), not once per
// chunk; the chunks range-read their rows' lines and find exactly the pairs in a common block.
func TestChunksReadTheirOwnBlocks(t *testing.T) {
	data := parties(t)
	var blocks [2][][]string
	for i, d := range data {
		for row := range len(d) / 16 {
			blocks[i] = append(blocks[i], []string{"b" + strconv.Itoa(row%3)})
		}
	}
	const threshold = 0.6
	f := newBlockedFixture(t, threshold, data, blocks)
	reads := &wholeReads{Store: f.blobs, n: map[string]int{}}
	f.read = reads
	cfg := worker.Config{ChunkComparisons: 3000, Concurrency: 2}
	f.complete(t, cfg)

	var want []client.Score
	a, b := clks(t, data[0]), clks(t, data[1])
	for i := range a.Len() {
		for j := range b.Len() {
			if s := engine.Dice(a, i, b, j); s >= threshold && i%3 == j%3 {
				want = append(want, client.Score{A: client.Record{Party: 0, Row: i}, B: client.Record{Party: 1, Row: j}, Score: s})
			}
		}
	}
	require.NotEmpty(t, want)
	require.ElementsMatch(t, want, scores(t, f))

	r, err := f.store.GetRun(t.Context(), f.pid, f.rid)
	require.NoError(t, err)
	require.GreaterOrEqual(t, r.Chunks, 10)
	parties, err := f.store.ListParties(t.Context(), f.pid)
	require.NoError(t, err)
	for party, pa := range parties {
		n := reads.n[linkage.BlocksKey(f.pid, party, pa.Attempt)]
		require.LessOrEqual(t, n, 1+cfg.Concurrency, "party %d's blocks read whole %d times for %d chunks", party, n, r.Chunks)
	}
}
