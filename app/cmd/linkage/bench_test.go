package main

import (
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"testing"

	"github.com/linkage-platform/linkage/app/engine"
)

// BenchmarkLink times `linkage link` in CPU seconds on one core (GOMAXPROCS=1,
// --workers 1) on 20,000 × 20,000 random 1024-bit CLKs (every bit a fair
// coin), t = 0.8, once per kernel tier this CPU runs, forced in turn, and
// reports each tier's speed-up over the portable tier (x-portable). It runs
// the binary LINKAGE_BENCH_BIN; LINKAGE_BENCH_BASELINE, when set, is a second
// binary whose portable tier is timed first, and every tier is also reported
// against it (x-baseline). make bench-kernels passes make build's binary and
// the same source built for GOAMD64=v1 (the portable tier as it was built
// before v2).
func BenchmarkLink(b *testing.B) {
	bin := os.Getenv("LINKAGE_BENCH_BIN")
	if bin == "" {
		b.Skip("LINKAGE_BENCH_BIN is not set: run make bench-kernels")
	}
	n := 20000
	rng := mrand.NewChaCha8([32]byte{1})
	files := make([]string, 2)
	for i := range files {
		records := make([][]byte, n)
		for j := range records {
			records[j] = make([]byte, 128)
			_, _ = rng.Read(records[j])
		}
		files[i] = writeCLKs(b, records...)
	}
	one := writeCLKs(b, make([]byte, 128))
	link := func(b *testing.B, bin, tier string) float64 {
		var cpu float64
		for range b.N {
			cmd := exec.Command(bin, "link", "--kernel", tier, "--workers", "1", "--threshold", "0.8", "--result", "groups", files[0], files[1])
			cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%s: %v: %.300s", cmd, err, out)
			}
			cpu += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
		}
		cpu /= float64(b.N)
		b.ReportMetric(cpu, "cpu-s/link")
		b.ReportMetric(float64(n)*float64(n)/cpu, "cmp/cpu-s")
		return cpu
	}
	var baseline, portable float64 // CPU seconds per link
	if base := os.Getenv("LINKAGE_BENCH_BASELINE"); base != "" {
		b.Run("baseline-portable", func(b *testing.B) { baseline = link(b, base, "portable") })
	}
	for _, tier := range engine.KernelTiers() {
		// A tier this CPU lacks is refused at start-up: skip it.
		if exec.Command(bin, "link", "--kernel", tier, "--threshold", "0.8", one, one).Run() != nil {
			continue
		}
		b.Run(tier, func(b *testing.B) {
			cpu := link(b, bin, tier)
			if tier == "portable" {
				portable = cpu
			}
			if portable > 0 {
				b.ReportMetric(portable/cpu, "x-portable")
			}
			if baseline > 0 {
				b.ReportMetric(baseline/cpu, "x-baseline")
			}
		})
	}
}
