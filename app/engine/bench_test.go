package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchCompare runs Compare b.N times and reports comparisons (n1·n2) per
// wall second, per CPU second (the machine is shared: wall time swings, CPU
// time much less) and the CPU seconds used per run; it returns comparisons
// per CPU second.
func benchCompare(b *testing.B, x, y *CLKs, opt Options) float64 {
	b.Helper()
	opt.PartyB = 1
	pairs := float64(x.Len()) * float64(y.Len())
	var found int
	b.ResetTimer()
	cpu0, wall0 := cpuTime(), time.Now()
	for range b.N {
		c, err := Compare(context.Background(), x, y, opt)
		if err != nil {
			b.Fatal(err)
		}
		found = len(c)
	}
	wall, cpu := time.Since(wall0).Seconds(), (cpuTime() - cpu0).Seconds()
	b.StopTimer()
	b.ReportMetric(pairs*float64(b.N)/wall, "cmp/s")
	if cpu > 0 {
		b.ReportMetric(pairs*float64(b.N)/cpu, "cmp/cpu-s")
		b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
	}
	b.ReportMetric(float64(found), "candidates")
	if cpu <= 0 {
		return 0
	}
	return pairs * float64(b.N) / cpu
}

// BenchmarkKernel: 20,000 × 20,000 random 1024-bit CLKs with bits set with
// p = 0.5, threshold 0.8: popcount bounds prune almost nothing, so this
// measures the kernel. Every tier this CPU runs, forced in turn, on 1 worker
// and on all cores, with its speed-up over the portable tier in the same run
// (x-portable) and, where /proc/cpuinfo gives the clock, CPU cycles per
// comparison. make bench-kernels runs it.
func BenchmarkKernel(b *testing.B) {
	n := 20000
	rng := rand.New(rand.NewPCG(1, 2))
	x := mustNew(b, randomBytes(rng, n, 128, 0.5), 128)
	y := mustNew(b, randomBytes(rng, n, 128, 0.5), 128)
	hz := cpuHz()
	for _, workers := range slices.Compact([]int{1, runtime.GOMAXPROCS(0)}) {
		var base float64 // the portable tier's comparisons per CPU second
		for _, k := range kernels() {
			b.Run(fmt.Sprintf("workers=%d/%s", workers, k.name), func(b *testing.B) {
				old := active.Load()
				active.Store(&k)
				defer active.Store(old)
				perCPU := benchCompare(b, x, y, Options{Threshold: 0.8, Workers: workers})
				if k.name == portable.name {
					base = perCPU
				} else if base > 0 {
					b.ReportMetric(perCPU/base, "x-portable")
				}
				if hz > 0 && perCPU > 0 {
					b.ReportMetric(hz/perCPU, "cycles/cmp")
				}
			})
		}
	}
}

// cpuHz is the clock of the first CPU in /proc/cpuinfo ("cpu MHz"; in a VM
// the nominal clock), or 0.
func cpuHz() float64 {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0
			}
			return mhz * 1e6
		}
	}
	return 0
}

// BenchmarkTutorial: the shared tutorial CLKs (real data), parties 1-3
// against parties 4-5, each side replicated to ≥ 10,000 records, at
// thresholds 0.7, 0.8 and 0.9 on all cores.
func BenchmarkTutorial(b *testing.B) {
	parties := loadTutorial(b)
	side := func(idx ...int) *CLKs {
		var data []byte
		for len(data)/128 < 10000 {
			for _, i := range idx {
				for r := range parties[i].Len() {
					data = parties[i].AppendRecord(data, r)
				}
			}
		}
		return mustNew(b, data, 128)
	}
	x, y := side(0, 1, 2), side(3, 4)
	for _, t := range []float64{0.7, 0.8, 0.9} {
		b.Run("t="+strconv.FormatFloat(t, 'f', -1, 64), func(b *testing.B) {
			benchCompare(b, x, y, Options{Threshold: t})
		})
	}
}

// BenchmarkMemory compares two large parties of tutorial-like CLKs (noisy
// copies of real records) at t = 0.9 and reports the process's peak RSS:
// memory must grow with the candidates, not with n1·n2. The default is
// 50,000 × 50,000 to keep make bench short; LINKAGE_BENCH_MEMORY_N=200000 runs the
// full-size check (about a minute on 2 cores).
func BenchmarkMemory(b *testing.B) {
	n := benchSize(b, "LINKAGE_BENCH_MEMORY_N", 50000)
	parties := loadTutorial(b)
	var src []byte
	for _, p := range parties {
		for r := range p.Len() {
			src = p.AppendRecord(src, r)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x := mustNew(b, noisyCopies(rng, src, 128, n, 0.01), 128)
	y := mustNew(b, noisyCopies(rng, src, 128, n, 0.01), 128)
	src = nil
	benchCompare(b, x, y, Options{Threshold: 0.9})
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
}

// benchSize is def, or the environment variable env when set.
func benchSize(b *testing.B, env string, def int) int {
	if s := os.Getenv(env); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("%s=%q is not a positive integer", env, s)
		}
		return n
	}
	return def
}

// testdata is the shared test data directory, a sibling of the repository.
func testdata(tb testing.TB, parts ...string) string {
	tb.Helper()
	dir := filepath.Join(append([]string{"..", "..", "..", "shared", "testdata"}, parts...)...)
	if _, err := os.Stat(dir); err != nil {
		tb.Skipf("shared test data not found at %s (expected as a sibling of the repository): %v", dir, err)
	}
	return dir
}

// BenchmarkScan is the kernel alone on one tile (1,024 random 1024-bit rows,
// cache-resident): the cost of one comparison without the candidate
// generation around it.
func BenchmarkScan(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	rows := mustNew(b, randomBytes(rng, tileRows, 128, 0.5), 128)
	q := mustNew(b, randomBytes(rng, 1, 128, 0.5), 128)
	th := newThreshold(0.8, 128)
	counts := make([]uint32, tileRows)
	mask := make([]uint8, tileRows/8)
	hz := cpuHz()
	var base float64 // the portable tier's comparisons per CPU second
	for _, k := range kernels() {
		b.Run(k.name, func(b *testing.B) {
			data := layout(k, rows.data, 16)
			cpu0 := cpuTime()
			for range b.N {
				k.scan(q.row(0), data, rows.pops, q.pops[0], th, counts, mask)
			}
			cpu := (cpuTime() - cpu0).Seconds()
			if cpu <= 0 {
				return
			}
			perCPU := float64(b.N) * tileRows / cpu
			b.ReportMetric(perCPU, "cmp/cpu-s")
			if k.name == portable.name {
				base = perCPU
			} else if base > 0 {
				b.ReportMetric(perCPU/base, "x-portable")
			}
			if hz > 0 {
				b.ReportMetric(hz/perCPU, "cycles/cmp")
			}
		})
	}
}
