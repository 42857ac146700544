package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/linkage"
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
	require.Equal(t, `{"similarity_scores":[[[0,4],[1,2],1.0],[[0,1],[1,9],0.8],[[0,0],[1,0],0.6666666666666666],[[0,0],[1,1],1e-7]]}`+"\n", buf.String())
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

// TestWriteScoresFile: the reference's binary candidate-pair layout, checked
// byte by byte on hand-built entries.
func TestWriteScoresFile(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteScoresFile(&buf, slices.Values([]engine.Candidate{
		{Score: 1, A: rec(0, 4), B: rec(1, 2)},
		{Score: 0.75, A: rec(0, 0x01020304), B: rec(1, 7)},
	})))
	require.Equal(t, []byte{
		1, 8, 1, 4, // version, score size, party size, row size
		0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 1, 4, 0, 0, 0, 2, 0, 0, 0, // 1.0, party 0, party 1, row 4, row 2
		0, 0, 0, 0, 0, 0, 0xe8, 0x3f, 0, 1, 4, 3, 2, 1, 7, 0, 0, 0, // 0.75, ..., row 0x01020304, row 7
	}, buf.Bytes())
	buf.Reset()
	require.NoError(t, WriteScoresFile(&buf, slices.Values([]engine.Candidate(nil))))
	require.Equal(t, []byte{1, 8, 1, 4}, buf.Bytes())
	require.ErrorContains(t, WriteScoresFile(&buf, slices.Values([]engine.Candidate{{Score: 1, A: rec(0, 1), B: rec(300, 2)}})), "out of range")
}

// TestSolve: each result type yields its documents under their part names.
func TestSolve(t *testing.T) {
	cands := func() []engine.Candidate {
		return []engine.Candidate{{Score: 0.9, A: rec(0, 0), B: rec(1, 1)}, {Score: 1, A: rec(0, 1), B: rec(1, 0)}}
	}
	docs := func(rt linkage.ResultType, sizes ...int) map[string]string {
		out := map[string]string{}
		require.NoError(t, Solve(rt, cands(), sizes, "seed", func(part string, write func(io.Writer) error) error {
			var b bytes.Buffer
			out[part] = ""
			if err := write(&b); err != nil {
				return err
			}
			out[part] = b.String()
			return nil
		}))
		return out
	}
	require.Equal(t, map[string]string{"": `{"groups":[[[0,0],[1,1]],[[0,1],[1,0]]]}` + "\n"}, docs(linkage.ResultGroups, 2, 2))
	s := docs(linkage.ResultSimilarityScores, 2, 2)
	require.Equal(t, `{"similarity_scores":[[[0,1],[1,0],1.0],[[0,0],[1,1],0.9]]}`+"\n", s[linkage.PartResult])
	require.Len(t, s[linkage.PartScoresFile], 4+2*18)
	p := docs(linkage.ResultPermutations, 2, 3)
	require.Equal(t, `{"mask":[1,1]}`+"\n", p[linkage.PartMask])
	require.Contains(t, p, linkage.PartParty(0))
	require.Contains(t, p, linkage.PartParty(1))
	err := Solve(linkage.ResultPermutations, cands(), []int{2, 2, 2}, "s", nil)
	require.ErrorContains(t, err, "needs exactly 2 parties")
}
