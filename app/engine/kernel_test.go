package engine

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkKernels runs every available kernel on one query against rows and
// checks masks and, at the hits, counts against a plain popcount and
// score(); a kernel's scan2 is run with the first row as the second query,
// in both orders, given the rows' least nonzero popcount and 1.
func checkKernels(t testing.TB, q []uint64, rows []uint64, th *threshold) {
	words := len(q)
	n := len(rows) / words
	pops := make([]uint32, n)
	for j := range n {
		pops[j] = popcount(rows[j*words : (j+1)*words])
	}
	want := func(q []uint64) ([]uint32, []uint8) {
		counts, mask := make([]uint32, n), make([]uint8, n/8)
		for j := range n {
			for k := range words {
				counts[j] += uint32(bits.OnesCount64(rows[j*words+k] & q[k]))
			}
			if score(counts[j], popcount(q)+pops[j]) >= th.t {
				mask[j/8] |= 1 << (j % 8)
			}
		}
		return counts, mask
	}
	wantCounts, wantMask := want(q)
	for _, k := range kernels() {
		counts := make([]uint32, n)
		mask := make([]uint8, n/8)
		k.scan(q, layout(k, rows, words), pops, popcount(q), th, counts, mask)
		require.Equal(t, wantMask, mask, "kernel %s mask", k.name)
		require.Equal(t, atHits(wantCounts, wantMask), atHits(counts, wantMask), "kernel %s counts", k.name)
		if k.scan2 == nil {
			continue
		}
		q2 := rows[:words]
		least := uint32(0) // the least nonzero popcount; 1 is a weaker bound
		for _, p := range pops {
			if p > 0 && (least == 0 || p < least) {
				least = p
			}
		}
		for _, qs := range [][2][]uint64{{q, q2}, {q2, q}} {
			for _, l := range []uint32{least, min(least, 1)} {
				counts := [2][]uint32{make([]uint32, n), make([]uint32, n)}
				mask := [2][]uint8{make([]uint8, n/8), make([]uint8, n/8)}
				exact := k.scan2(qs, layout(k, rows, words), pops, l, [2]uint32{popcount(qs[0]), popcount(qs[1])}, th, counts, mask)
				for i, q := range qs {
					wc, wm := want(q)
					if !exact {
						require.Equal(t, make([]uint8, n/8), wm, "kernel %s scan2 (least %d): reports no hits, query %d has some", k.name, l, i)
					}
					require.Equal(t, wm, mask[i], "kernel %s scan2 (least %d): mask of query %d", k.name, l, i)
					require.Equal(t, atHits(wc, wm), atHits(counts[i], wm), "kernel %s scan2 (least %d): counts of query %d", k.name, l, i)
				}
			}
		}
	}
}

// atHits is counts with the entries of rows that are not hits zeroed.
func atHits(counts []uint32, mask []uint8) []uint32 {
	out := make([]uint32, len(counts))
	for j, c := range counts {
		if mask[j/8]>>(j%8)&1 == 1 {
			out[j] = c
		}
	}
	return out
}

func popcount(w []uint64) uint32 {
	var c uint32
	for _, x := range w {
		c += uint32(bits.OnesCount64(x))
	}
	return c
}

// layout returns rows (row-major, n a multiple of 8) as kernel k reads them.
func layout(k kernel, rows []uint64, words int) []uint64 {
	if !k.interleaved || words != 16 {
		return rows
	}
	out := make([]uint64, len(rows))
	for j := range len(rows) / 16 {
		putInterleaved(out, j, rows[j*16:(j+1)*16])
	}
	return out
}

func randomWords(rng *rand.Rand, n int, p float64) []uint64 {
	w := make([]uint64, n)
	for i := range w {
		for b := range 64 {
			if rng.Float64() < p {
				w[i] |= 1 << b
			}
		}
	}
	return w
}

func TestKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, words := range []int{1, 2, 7, 8, 9, 15, 16, 17, 24, 32, 64} {
		for _, p := range []float64{0, 0.02, 0.3, 0.5, 0.9, 1} {
			for _, thr := range []float64{0.01, 0.5, 0.8, 0.95, 1} {
				th := newThreshold(thr, words*8)
				q := randomWords(rng, words, p)
				n := 8 * (1 + rng.IntN(6))
				rows := make([]uint64, 0, n*words)
				for range n {
					// Mostly near-copies of q so the mask is exercised both ways.
					r := slicesCloneFlip(rng, q, rng.Float64()*0.3)
					rows = append(rows, r...)
				}
				checkKernels(t, q, rows, th)
			}
		}
	}
}

func slicesCloneFlip(rng *rand.Rand, q []uint64, flip float64) []uint64 {
	r := make([]uint64, len(q))
	for i, w := range q {
		for b := range 64 {
			if rng.Float64() < flip {
				w ^= 1 << b
			}
		}
		r[i] = w
	}
	return r
}

// The CPUs of the worker pools, as x/sys/cpu describes them.
var poolCPUs = []struct {
	name string
	has  map[string]bool
	tier string // the fastest tier it runs
}{
	{"no POPCNT", map[string]bool{}, "portable"},
	{"r3 Ivy Bridge", map[string]bool{"POPCNT": true}, "popcnt"},
	{"r4 Broadwell, r5a Zen 1", map[string]bool{"POPCNT": true, "AVX2": true}, "avx2"},
	{"r5 Skylake-SP", map[string]bool{"POPCNT": true, "AVX2": true, "AVX512F": true, "AVX512BW": true}, "avx512bw"},
	{"r6i Ice Lake", map[string]bool{"POPCNT": true, "AVX2": true, "AVX512F": true, "AVX512BW": true, "AVX512VPOPCNTDQ": true, "AVX512VBMI": true, "AVX512VBMI2": true}, "avx512"},
}

func TestKernelSelection(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		k, err := selectKernel("", cpuFeatures)
		require.NoError(t, err)
		require.Equal(t, "portable", k.name)
		_, err = selectKernel("avx2", cpuFeatures)
		require.ErrorContains(t, err, `kernel tier "avx2" is built for amd64 only`)
		return
	}
	for _, c := range poolCPUs {
		k, err := selectKernel("", c.has)
		require.NoError(t, err, c.name)
		require.Equal(t, c.tier, k.name, c.name)
		// Every tier up to the fastest can be forced; the ones above are refused.
		above := false
		for _, name := range tierNames {
			k, err := selectKernel(name, c.has)
			if above {
				require.Error(t, err, "%s: %s", c.name, name)
				continue
			}
			require.NoError(t, err, "%s: %s", c.name, name)
			require.Equal(t, name, k.name)
			above = name == c.tier
		}
	}
	// Refusals name the tier and what the CPU lacks.
	_, err := selectKernel("avx2", poolCPUs[1].has)
	require.EqualError(t, err, `kernel tier "avx2" needs the CPU feature(s) AVX2, which this CPU lacks (it runs portable, popcnt)`)
	_, err = selectKernel("avx512", poolCPUs[3].has)
	require.EqualError(t, err, `kernel tier "avx512" needs the CPU feature(s) AVX512VPOPCNTDQ, AVX512VBMI, AVX512VBMI2, which this CPU lacks (it runs portable, popcnt, avx2, avx512bw)`)
	_, err = selectKernel("avx512bw", poolCPUs[2].has)
	require.ErrorContains(t, err, "AVX512F, AVX512BW, which this CPU lacks")
	_, err = selectKernel("AVX2", cpuFeatures)
	require.EqualError(t, err, `unknown kernel tier "AVX2": want one of portable, popcnt, avx2, avx512bw, avx512`)
}

func TestUseKernel(t *testing.T) {
	old := active.Load()
	t.Cleanup(func() { active.Store(old) })
	require.Equal(t, tierNames, KernelTiers())
	runs := kernels()
	for _, k := range runs {
		require.NoError(t, UseKernel(k.name))
		require.Equal(t, k.name, KernelName())
	}
	require.NoError(t, UseKernel(""))
	require.Equal(t, runs[len(runs)-1].name, KernelName(), "the default is the fastest tier this CPU runs")
	require.Error(t, UseKernel("sse"))
	require.Equal(t, runs[len(runs)-1].name, KernelName(), "a refused tier leaves the kernel alone")
}

// FuzzKernels checks the kernels against each other and a plain popcount on
// arbitrary bytes: the first words are the query, the rest 8 rows.
func FuzzKernels(f *testing.F) {
	f.Add(uint8(16), uint8(80), make([]byte, 9*128))
	f.Add(uint8(3), uint8(50), []byte("the quick brown fox jumps over the lazy dog, again and again and again!"))
	f.Add(uint8(16), uint8(100), randomBytes(rand.New(rand.NewPCG(1, 1)), 9, 128, 0.5))
	f.Add(uint8(9), uint8(1), randomBytes(rand.New(rand.NewPCG(2, 2)), 9, 72, 0.1))
	f.Fuzz(func(t *testing.T, words, pct uint8, data []byte) {
		w := int(words%40) + 1
		thr := float64(pct%100+1) / 100
		need := 9 * w * 8
		if len(data) < need {
			data = append(data, make([]byte, need-len(data))...)
		}
		all := make([]uint64, 9*w)
		for i := range all {
			all[i] = binary.LittleEndian.Uint64(data[8*i:])
		}
		// Make some rows near-copies of the query so that hits occur.
		for j := 1; j < 9; j += 2 {
			for k := range w {
				all[j*w+k] = all[k] ^ (all[j*w+k] & all[(j+1)%9*w+k] & all[(j+2)%9*w+k])
			}
		}
		checkKernels(t, all[:w], all[w:], newThreshold(thr, w*8))
	})
}

func TestThresholdTable(t *testing.T) {
	for _, thr := range []float64{0.1, 0.5, 2.0 / 3, 0.7, 0.8, 0.85, 0.9, 0.99, 1} {
		th := newThreshold(thr, 16)
		for s := 1; s < len(th.minCount); s++ {
			for c := 0; c <= s; c++ {
				require.Equal(t, score(uint32(c), uint32(s)) >= thr, uint32(c) >= th.minCount[s], "t=%v s=%d c=%d", thr, s, c)
			}
		}
		// Popcount bounds never exclude a reachable pair.
		for pa := 0; pa <= 128; pa++ {
			lo, hi := th.popRange(pa, 128)
			for pb := 0; pb <= 128; pb++ {
				reach := pa > 0 && score(uint32(min(pa, pb)), uint32(pa+pb)) >= thr
				require.Equal(t, reach, pb >= lo && pb <= hi, "t=%v pa=%d pb=%d", thr, pa, pb)
			}
		}
	}
}
