package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeCLKs writes a {"clks": [...]} file of the given raw records.
func writeCLKs(t testing.TB, records ...[]byte) string {
	t.Helper()
	var clks []string
	for _, r := range records {
		clks = append(clks, base64.StdEncoding.EncodeToString(r))
	}
	b, err := json.Marshal(map[string]any{"clks": clks})
	require.NoError(t, err)
	name := filepath.Join(t.TempDir(), "clks.json")
	require.NoError(t, os.WriteFile(name, b, 0o600))
	return name
}

func bytesOf(b ...byte) []byte { return b }

func TestLink(t *testing.T) {
	// Party A: r0 = 0xff.., r1 = 0x0f..; party B: r0 = 0x0f.., r1 = 0xff.. with one bit less.
	a := writeCLKs(t, bytes.Repeat([]byte{0xff}, 8), bytes.Repeat([]byte{0x0f}, 8))
	b := writeCLKs(t, bytes.Repeat([]byte{0x0f}, 8), append(bytes.Repeat([]byte{0xff}, 7), 0xfe))
	ctx := context.Background()

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"link", "--threshold", "0.9", "--result", "groups", a, b}, &out, &out))
	require.Equal(t, `{"groups":[[[0,0],[1,1]],[[0,1],[1,0]]]}`+"\n", out.String())

	out.Reset()
	require.NoError(t, run(ctx, []string{"link", "--threshold", "0.9", "--result", "similarity_scores", a, b}, &out, &out))
	require.Equal(t, `{"similarity_scores":[[[0,1],[1,0],1.0],[[0,0],[1,1],0.9921259842519685]]}`+"\n", out.String())

	out.Reset()
	require.NoError(t, run(ctx, []string{"link", "--threshold", "0.5", "--result", "similarity_scores", a, b}, &out, &out))
	require.Equal(t, `{"similarity_scores":[[[0,1],[1,0],1.0],[[0,0],[1,1],0.9921259842519685],[[0,0],[1,0],0.6666666666666666],[[0,1],[1,1],0.6526315789473685]]}`+"\n", out.String())
	out.Reset()
	require.NoError(t, run(ctx, []string{"link", "--threshold", "0.5", "--top-k", "1", "--result", "similarity_scores", a, b}, &out, &out))
	require.Equal(t, `{"similarity_scores":[[[0,1],[1,0],1.0],[[0,0],[1,1],0.9921259842519685]]}`+"\n", out.String())

	out.Reset()
	require.NoError(t, run(ctx, []string{"link", "--threshold", "0.9", "--result", "permutations", "--seed", "7", a, b}, &out, &out))
	mask := out.String()
	out.Reset()
	require.NoError(t, run(ctx, []string{"link", "--threshold", "0.9", "--result", "permutations", "--seed", "7", "--party", "0", a, b}, &out, &out))
	perm0 := out.String()
	out.Reset()
	require.NoError(t, run(ctx, []string{"link", "--threshold", "0.9", "--result", "permutations", "--seed", "7", "--party", "1", a, b}, &out, &out))
	perm1 := out.String()
	require.Equal(t, `{"mask":[1,1]}`+"\n", mask)
	var p0, p1 struct {
		Permutation []int `json:"permutation"`
		Rows        int   `json:"rows"`
	}
	require.NoError(t, json.Unmarshal([]byte(perm0), &p0))
	require.NoError(t, json.Unmarshal([]byte(perm1), &p1))
	require.Equal(t, 2, p0.Rows)
	require.Equal(t, p0.Permutation[0], p1.Permutation[1])
	require.Equal(t, p0.Permutation[1], p1.Permutation[0])
}

func TestLinkErrors(t *testing.T) {
	ok := writeCLKs(t, bytesOf(1, 2, 3, 4, 5, 6, 7, 8))
	wide := writeCLKs(t, make([]byte, 16))
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	bad64 := write("bad64.json", `{"clks": ["AAAAAAAAAAA=", "%%%"]}`)
	odd := write("odd.json", `{"clks": ["AAAA"]}`)
	empty := write("empty.json", `{"clks": []}`)
	nokey := write("nokey.json", `{"encodings": []}`)
	notjson := write("notjson.json", `clks`)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"one file":        {[]string{"--threshold", "0.8", ok}, "groups needs at least 2 files, got 1"},
		"three perms":     {[]string{"--threshold", "0.8", "--result", "permutations", ok, ok, ok}, `result_type "permutations" needs exactly 2 parties, got 3`},
		"bad result":      {[]string{"--threshold", "0.8", "--result", "pairs", ok, ok}, `result_type must be one of groups, permutations, similarity_scores, got "pairs"`},
		"no threshold":    {[]string{ok, ok}, "threshold must satisfy 0 < threshold <= 1, got 0"},
		"missing file":    {[]string{"--threshold", "0.8", ok, filepath.Join(dir, "nope.json")}, "nope.json: no such file"},
		"bad base64":      {[]string{"--threshold", "0.8", ok, bad64}, "bad64.json: record 1: bad base64"},
		"not multiple 8":  {[]string{"--threshold", "0.8", ok, odd}, "odd.json: record 0: CLK length 3 bytes is not a positive multiple of 8"},
		"empty":           {[]string{"--threshold", "0.8", ok, empty}, "empty.json: no CLKs: empty input"},
		"no clks key":     {[]string{"--threshold", "0.8", ok, nokey}, `nokey.json: no "clks" key`},
		"not json":        {[]string{"--threshold", "0.8", ok, notjson}, "notjson.json: bad JSON"},
		"party not perms": {[]string{"--threshold", "0.8", "--party", "0", ok, ok}, "--party is for permutations only"},
		"party too big":   {[]string{"--threshold", "0.8", "--result", "permutations", "--party", "2", ok, ok}, "--party 2: there are 2 parties"},
		"sizes differ":    {[]string{"--threshold", "0.8", ok, wide}, "has 16-byte CLKs but"},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(ctx, append([]string{"link"}, tc.args...), &out, &out)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestLinkBinaryTestdata: the same 1000 CLKs for 3 parties at 0.99 give 1000
// groups of 3 (the shared test data's README).
func TestLinkBinaryTestdata(t *testing.T) {
	name := filepath.Join("..", "..", "..", "..", "shared", "testdata", "binary", "clks_128B_1k.json")
	if _, err := os.Stat(name); err != nil {
		t.Skipf("shared test data not found at %s (a sibling of the repository): %v", name, err)
	}
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"link", "--threshold", "0.99", name, name, name}, &out, &out))
	var res struct {
		Groups [][][2]int `json:"groups"`
	}
	require.NoError(t, json.Unmarshal(out.Bytes(), &res))
	require.Len(t, res.Groups, 1000)
	for i, g := range res.Groups {
		require.Equal(t, [][2]int{{0, i}, {1, i}, {2, i}}, g)
	}
}
