//go:build faults

package faulttest

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeParties writes two parties of n synthetic 128-byte CLKs as {"clks": [...]} files: half
// of B's records are A's with a few bits flipped (true matches, Dice ≈ 0.9+), the rest random,
// in shuffled order. Deterministic for a seed.
func writeParties(t testing.TB, dir string, n int, seed uint64) (string, string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	random := func() []byte {
		b := make([]byte, 128)
		for i := range b {
			x, y := rng.Uint32(), rng.Uint32()
			b[i] = byte(x) & byte(y) // ~25 % of bits set, like real CLKs
		}
		return b
	}
	a := make([][]byte, n)
	for i := range a {
		a[i] = random()
	}
	b := make([][]byte, n)
	for i := range b {
		if i%2 == 0 {
			c := append([]byte(nil), a[i]...)
			for range 12 {
				bit := rng.IntN(1024)
				c[bit/8] ^= 1 << (bit % 8)
			}
			b[i] = c
		} else {
			b[i] = random()
		}
	}
	rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	write := func(name string, clks [][]byte) string {
		enc := make([]string, len(clks))
		for i, c := range clks {
			enc[i] = base64.StdEncoding.EncodeToString(c)
		}
		data, err := json.Marshal(map[string][]string{"clks": enc})
		require.NoError(t, err)
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, data, 0o644))
		return path
	}
	return write("a.json", a), write("b.json", b)
}
