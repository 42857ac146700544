package engine

import (
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
)

// A kernel scores one query against n candidate rows, n a multiple of 8
// (callers pad with zero rows): bit j%8 of mask[j/8] is set when
// score(counts[j], qpop+pops[j]) ≥ th.t, counts[j] = popcount(q & row j).
// Hits are rare, so callers scan the mask and read counts only there, and
// a kernel need only write counts[j] where it sets the bit.
type kernel struct {
	name  string
	needs []string // CPU features (x/sys/cpu names) the tier runs on
	scan  func(q, rows []uint64, pops []uint32, qpop uint32, th *threshold, counts []uint32, mask []uint8)
	// interleaved: rows of 16 words (1024-bit CLKs) come in the block layout
	// of putInterleaved, and n and the rows start at multiples of 8.
	interleaved bool
	// scan2, when set, is scan for two queries in one pass over the rows
	// (each row loaded once for both); query i's results go to counts[i]
	// and mask[i]. least is the least nonzero popcount of the rows (0 when
	// all are empty), which sorted rows give for free; a smaller nonzero
	// value is correct but slower, a larger one loses hits. It returns
	// false when both masks are all zero (hits are rare: callers skip them).
	scan2 func(q [2][]uint64, rows []uint64, pops []uint32, least uint32, qpop [2]uint32, th *threshold, counts [2][]uint32, mask [2][]uint8) bool
}

// putInterleaved stores the 16-word row as row j of the layout interleaved
// kernels read: blocks of 8 rows, word k of row j at (j&^7)·16 + 8k + j%8,
// so that one 512-bit load takes word k of 8 rows.
func putInterleaved(data []uint64, j int, row []uint64) {
	base := (j&^7)*16 + j&7
	for k, w := range row[:16] {
		data[base+8*k] = w
	}
}

// tierNames are the kernel tiers, slowest first.
var tierNames = []string{"portable", "popcnt", "avx2", "avx512bw", "avx512"}

var portable = kernel{name: "portable", scan: scanPortable}

// tiers are the kernels built for this architecture, slowest first.
var tiers = append([]kernel{portable}, archKernels...)

// active is the kernel every Compare uses: the fastest this CPU runs, or
// the one UseKernel chose. Atomic because an API and a worker in one
// process (all-in-one, tests) each choose it at start-up.
var active atomic.Pointer[kernel]

func init() {
	k := mustSelect("", cpuFeatures)
	active.Store(&k)
}

// KernelName names the Dice kernel tier in use (one of KernelTiers).
func KernelName() string { return active.Load().name }

// KernelTiers names every kernel tier, slowest first: portable, popcnt,
// avx2, avx512bw and avx512.
func KernelTiers() []string { return slices.Clone(tierNames) }

// UseKernel makes the named tier the one Compare uses ("" picks the fastest
// this CPU runs). It refuses an unknown name and a tier whose instructions
// this CPU lacks. Call it at start-up, before any Compare runs.
func UseKernel(name string) error {
	k, err := selectKernel(name, cpuFeatures)
	if err != nil {
		return err
	}
	active.Store(&k)
	return nil
}

func mustSelect(name string, has map[string]bool) kernel {
	k, err := selectKernel(name, has)
	if err != nil {
		panic(err)
	}
	return k
}

// selectKernel picks the tier called name, or the fastest one whose needs
// are all in has when name is empty.
func selectKernel(name string, has map[string]bool) (kernel, error) {
	var runs []string
	best := portable
	for _, k := range tiers {
		if len(missing(k, has)) == 0 {
			runs = append(runs, k.name)
			best = k
		}
	}
	if name == "" {
		return best, nil
	}
	for _, k := range tiers {
		if k.name != name {
			continue
		}
		if m := missing(k, has); len(m) > 0 {
			return kernel{}, fmt.Errorf("kernel tier %q needs the CPU feature(s) %s, which this CPU lacks (it runs %s)",
				name, strings.Join(m, ", "), strings.Join(runs, ", "))
		}
		return k, nil
	}
	if slices.Contains(tierNames, name) {
		return kernel{}, fmt.Errorf("kernel tier %q is built for amd64 only, this is %s (it runs %s)", name, runtime.GOARCH, strings.Join(runs, ", "))
	}
	return kernel{}, fmt.Errorf("unknown kernel tier %q: want one of %s", name, strings.Join(tierNames, ", "))
}

// missing lists the CPU features k needs that are not in has.
func missing(k kernel, has map[string]bool) []string {
	var m []string
	for _, f := range k.needs {
		if !has[f] {
			m = append(m, f)
		}
	}
	return m
}
func scanPortable(q, rows []uint64, pops []uint32, qpop uint32, th *threshold, counts []uint32, mask []uint8) {
	n := len(pops)
	minCount := th.minCount[qpop:] // indexed by the row's popcount
	clear(mask)
	if len(q) != 16 {
		for j := range n {
			c := 0
			for k, w := range rows[j*len(q) : (j+1)*len(q)] {
				c += bits.OnesCount64(w & q[k])
			}
			counts[j] = uint32(c)
			if uint32(c) >= minCount[pops[j]] {
				mask[j>>3] |= 1 << (j & 7)
			}
		}
		return
	}
	// 1024-bit CLKs, unrolled: two rows per pass share each load of a query
	// word (with GOAMD64=v1 every OnesCount64 also tests for POPCNT).
	q16 := (*[16]uint64)(q)
	for j := 0; j < n; j += 2 {
		r := (*[16]uint64)(rows[j*16 : j*16+16])
		s := (*[16]uint64)(rows[j*16+16 : j*16+32])
		var c, d int
		w0 := q16[0]
		c += bits.OnesCount64(w0 & r[0])
		d += bits.OnesCount64(w0 & s[0])
		w1 := q16[1]
		c += bits.OnesCount64(w1 & r[1])
		d += bits.OnesCount64(w1 & s[1])
		w2 := q16[2]
		c += bits.OnesCount64(w2 & r[2])
		d += bits.OnesCount64(w2 & s[2])
		w3 := q16[3]
		c += bits.OnesCount64(w3 & r[3])
		d += bits.OnesCount64(w3 & s[3])
		w4 := q16[4]
		c += bits.OnesCount64(w4 & r[4])
		d += bits.OnesCount64(w4 & s[4])
		w5 := q16[5]
		c += bits.OnesCount64(w5 & r[5])
		d += bits.OnesCount64(w5 & s[5])
		w6 := q16[6]
		c += bits.OnesCount64(w6 & r[6])
		d += bits.OnesCount64(w6 & s[6])
		w7 := q16[7]
		c += bits.OnesCount64(w7 & r[7])
		d += bits.OnesCount64(w7 & s[7])
		w8 := q16[8]
		c += bits.OnesCount64(w8 & r[8])
		d += bits.OnesCount64(w8 & s[8])
		w9 := q16[9]
		c += bits.OnesCount64(w9 & r[9])
		d += bits.OnesCount64(w9 & s[9])
		w10 := q16[10]
		c += bits.OnesCount64(w10 & r[10])
		d += bits.OnesCount64(w10 & s[10])
		w11 := q16[11]
		c += bits.OnesCount64(w11 & r[11])
		d += bits.OnesCount64(w11 & s[11])
		w12 := q16[12]
		c += bits.OnesCount64(w12 & r[12])
		d += bits.OnesCount64(w12 & s[12])
		w13 := q16[13]
		c += bits.OnesCount64(w13 & r[13])
		d += bits.OnesCount64(w13 & s[13])
		w14 := q16[14]
		c += bits.OnesCount64(w14 & r[14])
		d += bits.OnesCount64(w14 & s[14])
		w15 := q16[15]
		c += bits.OnesCount64(w15 & r[15])
		d += bits.OnesCount64(w15 & s[15])
		counts[j], counts[j+1] = uint32(c), uint32(d)
		if uint32(c) >= minCount[pops[j]] {
			mask[j>>3] |= 1 << (j & 7)
		}
		if uint32(d) >= minCount[pops[j+1]] {
			mask[j>>3] |= 2 << (j & 7)
		}
	}
}
