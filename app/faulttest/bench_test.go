//go:build faults

package faulttest

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkRun20k times one 20,000 × 20,000 groups run through the API (create run → completed)
// with one and then two worker processes of one CPU each (GOMAXPROCS=1, as a CPU limit of 1
// gives), side by side on the same cluster and uploads:
//
//	make services && eval "$(make -s services-env)"
//	go test -tags faults -run '^$' -bench Run20k -benchtime 5x ./app/faulttest
func BenchmarkRun20k(b *testing.B) {
	c := newCluster(b)
	a, bb := writeParties(b, c.dir, 20_000, 7)
	p := c.newProject(a, bb)
	for _, workers := range []int{1, 2} {
		for len(c.workers) < workers {
			c.startWorker("GOMAXPROCS=1")
		}
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			c.t = b
			run := c.newRun(p, threshold) // warm-up: connections, page cache
			c.waitCompleted(p, run, 5*time.Minute)
			b.ResetTimer()
			for range b.N {
				run := c.newRun(p, threshold)
				c.waitCompleted(p, run, 5*time.Minute)
			}
			b.ReportMetric(float64(20_000*20_000)*float64(b.N)/b.Elapsed().Seconds(), "comparisons/s")
		})
	}
}
