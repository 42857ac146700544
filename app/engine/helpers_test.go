package engine

import (
	"encoding/base64"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomBytes returns n records of size bytes with each bit set with
// probability p.
func randomBytes(rng *rand.Rand, n, size int, p float64) []byte {
	b := make([]byte, n*size)
	for i := range b {
		for bit := range 8 {
			if rng.Float64() < p {
				b[i] |= 1 << bit
			}
		}
	}
	return b
}

// noisyCopies returns n records, each a copy of a random record of src with
// each bit flipped with probability flip, so that many pairs score high.
func noisyCopies(rng *rand.Rand, src []byte, size, n int, flip float64) []byte {
	m := len(src) / size
	out := make([]byte, 0, n*size)
	for range n {
		r := rng.IntN(m)
		rec := append([]byte(nil), src[r*size:(r+1)*size]...)
		for i := range rec {
			for bit := range 8 {
				if rng.Float64() < flip {
					rec[i] ^= 1 << bit
				}
			}
		}
		out = append(out, rec...)
	}
	return out
}

func mustNew(t testing.TB, data []byte, size int) *CLKs {
	t.Helper()
	c, err := New(data, size)
	require.NoError(t, err)
	return c
}

func toBase64(data []byte, size int) []string {
	var out []string
	for i := 0; i < len(data); i += size {
		out = append(out, base64.StdEncoding.EncodeToString(data[i:i+size]))
	}
	return out
}

// bruteForce scores every pair with Dice: the reference the fast paths are
// checked against.
func bruteForce(a, b *CLKs, t float64, pa, pb int32) []Candidate {
	out := []Candidate{}
	for i := range a.Len() {
		for j := range b.Len() {
			if s := Dice(a, i, b, j); s >= t {
				out = append(out, Candidate{Score: s,
					A: Record{pa, int32(a.Offset() + i)}, B: Record{pb, int32(b.Offset() + j)}})
			}
		}
	}
	SortCandidates(out)
	return out
}

// withKernel runs the test body with the given kernel active.
func withKernel(t *testing.T, k kernel) {
	t.Helper()
	old := active.Load()
	active.Store(&k)
	t.Cleanup(func() { active.Store(old) })
}

// kernels are the kernels this machine can run.
func kernels() []kernel {
	var ks []kernel
	for _, k := range tiers {
		if len(missing(k, cpuFeatures)) == 0 {
			ks = append(ks, k)
		}
	}
	return ks
}
