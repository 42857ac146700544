package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/engine"
)

func TestWriteGroups(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteGroups(&buf, [][]engine.Record{{rec(0, 1), rec(1, 3)}, {rec(0, 2), rec(1, 0), rec(2, 7)}}))
	require.Equal(t, `{"groups":[[[0,1],[1,3]],[[0,2],[1,0],[2,7]]]}`+"\n", buf.String())
	buf.Reset()
	require.NoError(t, WriteGroups(&buf, nil))
	require.Equal(t, `{"groups":[]}`+"\n", buf.String())
}

func TestWriteSimilarityScores(t *testing.T) {
	cands := []engine.Candidate{
		{Score: 1, A: rec(0, 4), B: rec(1, 2)},
		{Score: 0.8, A: rec(0, 1), B: rec(1, 9)},
		{Score: 2.0 / 3, A: rec(0, 0), B: rec(1, 0)},
		{Score: 1e-7, A: rec(0, 0), B: rec(1, 1)},
	}
	var buf bytes.Buffer
	require.NoError(t, WriteSimilarityScores(&buf, slices.Values(cands)))
	require.Equal(t, `{"similarity_scores":[[[0,4],[1,2],1],[[0,1],[1,9],0.8],[[0,0],[1,0],0.6666666666666666],[[0,0],[1,1],1e-7]]}`+"\n", buf.String())
	// Scores survive a JSON round trip exactly.
	var back struct {
		Scores [][3]json.RawMessage `json:"similarity_scores"`
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	for i, s := range back.Scores {
		var f float64
		require.NoError(t, json.Unmarshal(s[2], &f))
		require.Equal(t, cands[i].Score, f)
	}
}

func TestWriteSimilarityScoresStreams(t *testing.T) {
	// Many scores reach the writer in pieces, not as one buffer at the end.
	w := &countingWriter{}
	n := 100000
	seq := func(yield func(engine.Candidate) bool) {
		for i := range n {
			if !yield(engine.Candidate{Score: 0.9, A: rec(0, int32(i)), B: rec(1, int32(i))}) {
				return
			}
		}
	}
	require.NoError(t, WriteSimilarityScores(w, seq))
	require.Greater(t, w.writes, 10)
	require.LessOrEqual(t, w.largest, 128<<10)
}

type countingWriter struct{ writes, largest int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	w.largest = max(w.largest, len(p))
	return len(p), nil
}

func TestWritePermutations(t *testing.T) {
	p := engine.Permutation{Perms: [2][]int{{2, 0, 1}, {1, 2}}, Rows: 3, Mask: []int{1, 0, 1}}
	var buf bytes.Buffer
	require.NoError(t, WritePermutations(&buf, p))
	require.Equal(t, `{"permutations":[[2,0,1],[1,2]],"rows":3,"mask":[1,0,1]}`+"\n", buf.String())
	buf.Reset()
	require.NoError(t, WritePermutation(&buf, p.Perms[1], p.Rows))
	require.Equal(t, `{"permutation":[1,2],"rows":3}`+"\n", buf.String())
	buf.Reset()
	require.NoError(t, WriteMask(&buf, p.Mask))
	require.Equal(t, `{"mask":[1,0,1]}`+"\n", buf.String())
}

func TestWriteErrors(t *testing.T) {
	err := WriteMask(failingWriter{}, []int{1})
	require.ErrorContains(t, err, "write mask: disk full")
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func rec(party, row int32) engine.Record { return engine.Record{Party: party, Row: row} }
