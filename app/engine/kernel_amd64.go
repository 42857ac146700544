package engine

import "golang.org/x/sys/cpu"

// accelerated returns the AVX-512 kernel when the CPU and OS support
// AVX-512F with VPOPCNTQ (x/sys/cpu checks the OS saves the ZMM state).
func accelerated() (kernel, bool) {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VPOPCNTDQ {
		return kernel{name: "avx512", scan: scanAVX512}, true
	}
	return kernel{}, false
}

func scanAVX512(q, rows []uint64, pops []uint32, qpop uint32, th *threshold, counts []uint32, mask []uint8) {
	n := len(pops)
	if n == 0 {
		return
	}
	// The assembly trusts its lengths: check them once here.
	_ = rows[n*len(q)-1]
	_ = counts[n-1]
	_ = mask[n/8-1]
	if len(q) == 16 {
		scan1024AVX512(&q[0], &rows[0], &pops[0], n, float64(qpop), th.t, &counts[0], &mask[0])
		return
	}
	scanWordsAVX512(&q[0], &rows[0], len(q), &pops[0], n, float64(qpop), th.t, &counts[0], &mask[0])
}

// scan1024AVX512 is the kernel for 1024-bit CLKs; n is a multiple of 8.
//
//go:noescape
func scan1024AVX512(q, rows *uint64, pops *uint32, n int, qpop, t float64, counts *uint32, mask *uint8)

// scanWordsAVX512 is the kernel for any CLK size (words uint64 per record).
//
//go:noescape
func scanWordsAVX512(q, rows *uint64, words int, pops *uint32, n int, qpop, t float64, counts *uint32, mask *uint8)
