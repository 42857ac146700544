package engine

import (
	"math/bits"
	"os"
)

// A kernel scores one query against n candidate rows, n a multiple of 8
// (callers pad with zero rows): counts[j] = popcount(q & row j), and bit
// j%8 of mask[j/8] is set when score(counts[j], qpop+pops[j]) ≥ th.t.
// Hits are rare, so callers scan the mask and read counts only there.
type kernel struct {
	name string
	scan func(q, rows []uint64, pops []uint32, qpop uint32, th *threshold, counts []uint32, mask []uint8)
}

var portable = kernel{name: "portable", scan: scanPortable}

// active is the kernel chosen at start-up; see selectKernel.
var active = selectKernel(os.Getenv("LINKAGE_KERNEL"))

// KernelName names the Dice kernel in use: "avx512" or "portable".
func KernelName() string { return active.name }

func selectKernel(env string) kernel {
	if env == "portable" {
		return portable
	}
	if k, ok := accelerated(); ok {
		return k
	}
	return portable
}

func scanPortable(q, rows []uint64, pops []uint32, qpop uint32, th *threshold, counts []uint32, mask []uint8) {
	words := len(q)
	n := len(pops)
	minCount := th.minCount
	if words == 16 {
		q := (*[16]uint64)(q)
		for j := range n {
			r := (*[16]uint64)(rows[j*16 : j*16+16])
			c := bits.OnesCount64(q[0]&r[0]) + bits.OnesCount64(q[1]&r[1]) +
				bits.OnesCount64(q[2]&r[2]) + bits.OnesCount64(q[3]&r[3]) +
				bits.OnesCount64(q[4]&r[4]) + bits.OnesCount64(q[5]&r[5]) +
				bits.OnesCount64(q[6]&r[6]) + bits.OnesCount64(q[7]&r[7]) +
				bits.OnesCount64(q[8]&r[8]) + bits.OnesCount64(q[9]&r[9]) +
				bits.OnesCount64(q[10]&r[10]) + bits.OnesCount64(q[11]&r[11]) +
				bits.OnesCount64(q[12]&r[12]) + bits.OnesCount64(q[13]&r[13]) +
				bits.OnesCount64(q[14]&r[14]) + bits.OnesCount64(q[15]&r[15])
			counts[j] = uint32(c)
		}
	} else {
		for j := range n {
			r := rows[j*words : (j+1)*words]
			c := 0
			for k, w := range q {
				c += bits.OnesCount64(w & r[k])
			}
			counts[j] = uint32(c)
		}
	}
	for j8 := 0; j8 < n; j8 += 8 {
		var m uint8
		for j := j8; j < j8+8; j++ {
			if counts[j] >= minCount[qpop+pops[j]] {
				m |= 1 << (j - j8)
			}
		}
		mask[j8/8] = m
	}
}
