package engine

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTallyMatchesBruteForce: Tally visits exactly the scores ≥ threshold of the sampled rows
// (absolute row a multiple of the stride) against every row of b (sharing a block, with
// blocking), whichever kernel, view and number of workers.
func TestTallyMatchesBruteForce(t *testing.T) {
	whole, b := clustered(t, 21, 300, 257, 128)
	blocksOf := func(n, mod int) [][]string {
		out := make([][]string, n)
		for i := range out {
			out[i] = []string{string(rune('a' + i%mod)), "shared"[:1+i%2]}
		}
		return out
	}
	wholeBlocks, blocksB := blocksOf(whole.Len(), 5), blocksOf(b.Len(), 3)
	shares := func(x, y []string) bool {
		for _, id := range x {
			if slices.Contains(y, id) {
				return true
			}
		}
		return false
	}
	for _, k := range kernels() {
		withKernel(t, k)
		for _, blocking := range []bool{false, true} {
			for _, stride := range []int{0, 1, 3, 7} {
				for _, view := range [][2]int{{0, 300}, {101, 250}} {
					a := whole.Slice(view[0], view[1])
					var want []float64
					var wantCompared int64
					for i := range a.Len() {
						if stride > 1 && (a.Offset()+i)%stride != 0 {
							continue
						}
						for j := range b.Len() {
							if blocking && !shares(wholeBlocks[a.Offset()+i], blocksB[j]) {
								continue
							}
							wantCompared++
							if s := Dice(a, i, b, j); s >= 0.6 {
								want = append(want, s)
							}
						}
					}
					opt := Options{Threshold: 0.6, PartyB: 1, Stride: stride, Workers: 3}
					if blocking {
						opt.BlocksA, opt.BlocksB = wholeBlocks[view[0]:view[1]], blocksB
					}
					var mu sync.Mutex
					var locals []*[]float64 // one per worker: its function is never called concurrently
					compared, err := Tally(context.Background(), a, b, opt, func() func(float64) {
						local := new([]float64)
						mu.Lock()
						locals = append(locals, local)
						mu.Unlock()
						return func(s float64) { *local = append(*local, s) }
					})
					var got []float64
					for _, l := range locals {
						got = append(got, *l...)
					}
					require.NoError(t, err)
					slices.Sort(want)
					slices.Sort(got)
					require.Greater(t, len(want), 10)
					require.Equal(t, want, got, "kernel %s blocking %v stride %d view %v", k.name, blocking, stride, view)
					require.Equal(t, wantCompared, compared)
				}
			}
		}
	}
}
