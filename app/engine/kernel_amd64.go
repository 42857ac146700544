package engine

import (
	"math"

	"golang.org/x/sys/cpu"
)

// cpuFeatures are the features the tiers need, as x/sys/cpu reports them
// (the AVX ones only when the OS saves the YMM/ZMM state).
var cpuFeatures = map[string]bool{
	"POPCNT":          cpu.X86.HasPOPCNT,
	"AVX2":            cpu.X86.HasAVX2,
	"AVX512F":         cpu.X86.HasAVX512F,
	"AVX512BW":        cpu.X86.HasAVX512BW,
	"AVX512VPOPCNTDQ": cpu.X86.HasAVX512VPOPCNTDQ,
	"AVX512VBMI":      cpu.X86.HasAVX512VBMI,
	"AVX512VBMI2":     cpu.X86.HasAVX512VBMI2,
}

// archKernels are the assembly tiers, slowest first, each named for the
// instructions it is built on (kernel_amd64.s).
var archKernels = []kernel{
	{name: "popcnt", needs: []string{"POPCNT"}, scan: scanPOPCNT},
	{name: "avx2", needs: []string{"POPCNT", "AVX2"}, scan: scanAVX2},
	{name: "avx512bw", needs: []string{"POPCNT", "AVX512F", "AVX512BW"}, scan: scanAVX512BW, interleaved: true},
	{name: "avx512", needs: []string{"AVX512F", "AVX512VPOPCNTDQ", "AVX512VBMI", "AVX512VBMI2"}, scan: scanAVX512, scan2: scan2AVX512},
}

// checkScan checks once the lengths the assembly trusts and returns n.
func checkScan(q, rows []uint64, pops []uint32, counts []uint32, mask []uint8) int {
	n := len(pops)
	if n == 0 {
		return 0
	}
	_ = q[0]
	_ = rows[n*len(q)-1]
	_ = counts[n-1]
	_ = mask[n/8-1]
	return n
}

// scanCounts runs the tier's kernel for 1024-bit CLKs, fast, which decides
// the threshold as maskMinCount does, or for other sizes the counting kernel
// words and then maskMinCount: th.minCount exactly like scanPortable.
func scanCounts(fast func(q, rows *uint64, pops *uint32, n int, minc, counts *uint32, mask *uint8),
	words func(q, rows *uint64, words, n int, counts *uint32),
	q, rows []uint64, pops []uint32, qpop uint32, th *threshold, counts []uint32, mask []uint8) {
	n := checkScan(q, rows, pops, counts, mask)
	if n == 0 {
		return
	}
	// minCount is indexed by qpop + a row's popcount ≤ 2·bits: in range.
	minc := &th.minCount[qpop]
	if len(q) == 16 {
		fast(&q[0], &rows[0], &pops[0], n, minc, &counts[0], &mask[0])
		return
	}
	words(&q[0], &rows[0], len(q), n, &counts[0])
	maskMinCount(&counts[0], &pops[0], n, minc, &mask[0])
}

func scanPOPCNT(q, rows []uint64, pops []uint32, qpop uint32, th *threshold, counts []uint32, mask []uint8) {
	scanCounts(scan1024POPCNT, countWordsPOPCNT, q, rows, pops, qpop, th, counts, mask)
}

// scan1024POPCNT counts 4 rows per pass, then decides per 8.
func scan1024POPCNT(q, rows *uint64, pops *uint32, n int, minc, counts *uint32, mask *uint8) {
	count1024POPCNT(q, rows, n, counts)
	maskMinCount(counts, pops, n, minc, mask)
}

func scanAVX2(q, rows []uint64, pops []uint32, qpop uint32, th *threshold, counts []uint32, mask []uint8) {
	scanCounts(scan1024AVX2, countWordsAVX2, q, rows, pops, qpop, th, counts, mask)
}

func scanAVX512BW(q, rows []uint64, pops []uint32, qpop uint32, th *threshold, counts []uint32, mask []uint8) {
	scanCounts(scan1024AVX512BW, countWordsAVX512BW, q, rows, pops, qpop, th, counts, mask)
}

// scanAVX512 decides the threshold in the 1024-bit kernel itself (against
// th.minCount, like every tier); other sizes count, then run maskMinCount.
func scanAVX512(q, rows []uint64, pops []uint32, qpop uint32, th *threshold, counts []uint32, mask []uint8) {
	if len(q) != 16 {
		scanCounts(nil, countWordsAVX512, q, rows, pops, qpop, th, counts, mask)
		return
	}
	if n := checkScan(q, rows, pops, counts, mask); n > 0 {
		scan1024AVX512(&q[0], &rows[0], &pops[0], n, &th.minCount[qpop], &counts[0], &mask[0])
	}
}

// scan2AVX512 runs the two-query kernel on 1024-bit CLKs, scanAVX512 twice
// on other sizes.
func scan2AVX512(q [2][]uint64, rows []uint64, pops []uint32, least uint32, qpop [2]uint32, th *threshold, counts [2][]uint32, mask [2][]uint8) bool {
	if len(q[0]) != 16 || len(q[1]) != 16 {
		for i := range q {
			scanAVX512(q[i], rows, pops, qpop[i], th, counts[i], mask[i])
		}
		return true
	}
	n := checkScan(q[0], rows, pops, counts[0], mask[0])
	checkScan(q[1], rows, pops, counts[1], mask[1])
	if n == 0 {
		return false
	}
	// Each query's lower bound: minCount at the least nonzero popcount (an
	// empty row counts 0, below any bound); none reach when all are empty.
	bound := [2]uint32{math.MaxUint32, math.MaxUint32}
	if least > 0 {
		for i, p := range qpop {
			bound[i] = th.minCount[p+least]
		}
	}
	return scan1024x2AVX512(&q[0][0], &q[1][0], &rows[0], &pops[0], n, &th.minCount[qpop[0]], &th.minCount[qpop[1]],
		bound[0], bound[1], &counts[0][0], &counts[1][0], &mask[0][0], &mask[1][0])
}

// The counting kernels write counts[j] = popcount(q & row j) for n rows (n
// a multiple of 8) of 16 words (count1024POPCNT) or of words words
// (countWords*); the scan1024 ones also set the mask.

//go:noescape
func count1024POPCNT(q, rows *uint64, n int, counts *uint32)

//go:noescape
func countWordsPOPCNT(q, rows *uint64, words, n int, counts *uint32)

// scan1024AVX2 counts and decides the threshold as maskMinCount does (minc
// is th.minCount from the query's popcount on).
//
//go:noescape
func scan1024AVX2(q, rows *uint64, pops *uint32, n int, minc, counts *uint32, mask *uint8)

//go:noescape
func countWordsAVX2(q, rows *uint64, words, n int, counts *uint32)

// scan1024AVX512BW is the same for rows stored interleaved (putInterleaved).
//
//go:noescape
func scan1024AVX512BW(q, rows *uint64, pops *uint32, n int, minc, counts *uint32, mask *uint8)

//go:noescape
func countWordsAVX512BW(q, rows *uint64, words, n int, counts *uint32)

// maskMinCount sets bit j%8 of mask[j/8] when counts[j] ≥ minc[pops[j]]
// (minc is th.minCount from the query's popcount on), n a multiple of 8.
//
//go:noescape
func maskMinCount(counts, pops *uint32, n int, minc *uint32, mask *uint8)

// scan1024AVX512 is the avx512 kernel for 1024-bit CLKs, threshold
// decision included (minc = &th.minCount[qpop]); n is a multiple of 8.
//
//go:noescape
func scan1024AVX512(q, rows *uint64, pops *uint32, n int, minc *uint32, counts *uint32, mask *uint8)

// scan1024x2AVX512 is scan1024AVX512 for the queries q1 and q2 at once,
// with their lower bounds given (bound1, bound2); it returns whether any
// 8 rows were decided exactly (else both masks are all zero).
//
//go:noescape
func scan1024x2AVX512(q1, q2, rows *uint64, pops *uint32, n int, minc1, minc2 *uint32, bound1, bound2 uint32, counts1, counts2 *uint32, mask1, mask2 *uint8) (exact bool)

//go:noescape
func countWordsAVX512(q, rows *uint64, words, n int, counts *uint32)
