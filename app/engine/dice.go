package engine

import (
	"fmt"
	"math"
	"math/bits"
)

// Dice is the Dice coefficient of rows i of a and j of b (relative to the
// views): 2·popcount(a&b)/(popcount(a)+popcount(b)) in float64; two all-zero
// CLKs score 0. The CLKs must have the same size.
func Dice(a *CLKs, i int, b *CLKs, j int) float64 {
	if a.words != b.words {
		panic(fmt.Sprintf("engine: Dice of %d-byte and %d-byte CLKs", a.Size(), b.Size()))
	}
	var c int
	for k, w := range a.row(i) {
		c += bits.OnesCount64(w & b.data[j*b.words+k])
	}
	return score(uint32(c), a.pops[i]+b.pops[j])
}

// score is the one place a Dice score is computed from an intersection count
// and the popcount sum; the kernels decide "≥ threshold" consistently with it.
func score(count, popSum uint32) float64 {
	if popSum == 0 {
		return 0
	}
	return float64(2*count) / float64(popSum)
}

// threshold holds a threshold and its exact integer form: for a popcount sum
// s, minCount[s] is the least intersection count whose score(count, s) ≥ t.
// score is monotone in count, so "count ≥ minCount[s]" decides exactly like
// the float comparison.
type threshold struct {
	t        float64
	minCount []uint32 // index: popcount sum 0..2·bits
}

func checkThreshold(t float64) error {
	if !(t > 0 && t <= 1) || math.IsNaN(t) {
		return fmt.Errorf("threshold %v is not in (0, 1]", t)
	}
	return nil
}

func newThreshold(t float64, size int) *threshold {
	maxSum := 2 * 8 * size
	th := &threshold{t: t, minCount: make([]uint32, maxSum+1)}
	th.minCount[0] = math.MaxUint32 // two empty CLKs score 0
	c := uint32(0)
	for s := 1; s <= maxSum; s++ {
		// The least count for s+1 is at least the one for s; walk c upwards.
		for score(c, uint32(s)) < t {
			c++
		}
		// Walk back if the float division allows a smaller count here.
		for c > 0 && score(c-1, uint32(s)) >= t {
			c--
		}
		th.minCount[s] = c
	}
	return th
}

// popRange returns the popcounts pb that can reach the threshold against a
// record of popcount pa: Dice ≤ 2·min(pa,pb)/(pa+pb), which rises up to
// pb = pa and falls after. The bounds are found with the same float64
// arithmetic as score, so no reachable pair is pruned.
func (th *threshold) popRange(pa, maxPop int) (lo, hi int) {
	if pa == 0 {
		return 1, 0 // empty: a zero CLK never reaches t > 0
	}
	reach := func(pb int) bool {
		return score(uint32(min(pa, pb)), uint32(pa+pb)) >= th.t
	}
	if !reach(pa) {
		return 1, 0
	}
	// Least pb in [0, pa] that reaches: reach is monotone rising there.
	l, h := 0, pa
	for l < h {
		m := (l + h) / 2
		if reach(m) {
			h = m
		} else {
			l = m + 1
		}
	}
	lo = l
	// Greatest pb in [pa, maxPop] that reaches: monotone falling there.
	l, h = pa, maxPop
	for l < h {
		m := (l + h + 1) / 2
		if reach(m) {
			l = m
		} else {
			h = m - 1
		}
	}
	return lo, l
}
