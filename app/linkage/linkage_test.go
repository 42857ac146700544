package linkage_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/linkage-platform/linkage/app/linkage"
)

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := linkage.NewID()
		require.True(t, linkage.ValidID(id), id)
		require.False(t, seen[id])
		seen[id] = true
	}
	for _, bad := range []string{"", "abc", strings.Repeat("A", 48), strings.Repeat("g", 48), strings.Repeat("a", 49)} {
		require.False(t, linkage.ValidID(bad), bad)
	}
}

func TestTokenHashing(t *testing.T) {
	tok := linkage.NewID()
	h := linkage.HashToken(tok)
	require.Len(t, h, 32)
	require.NotContains(t, string(h), tok)
	require.True(t, linkage.TokenMatches(tok, h))
	require.False(t, linkage.TokenMatches(linkage.NewID(), h))
	require.False(t, linkage.TokenMatches(tok, h[:31]))
}

func TestResultTypeValidate(t *testing.T) {
	require.NoError(t, linkage.ResultGroups.Validate(5))
	require.NoError(t, linkage.ResultPermutations.Validate(2))
	require.ErrorIs(t, linkage.ResultSimilarityScores.Validate(3), linkage.ErrInvalid)
	require.ErrorIs(t, linkage.ResultType("pairs").Validate(2), linkage.ErrInvalid)
}

func TestThreshold(t *testing.T) {
	require.NoError(t, linkage.ValidateThreshold(1))
	require.NoError(t, linkage.ValidateThreshold(0.0001))
	for _, bad := range []float64{0, -1, 1.0000001} {
		require.ErrorIs(t, linkage.ValidateThreshold(bad), linkage.ErrInvalid)
	}
}

func TestBlocksRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := linkage.NewBlocksWriter(&buf)
	require.NoError(t, w.Write(0, []string{"a", "b"}))
	require.NoError(t, w.Write(3, []string{"c"}))
	require.NoError(t, w.Write(5, []string{"a"}))
	require.NoError(t, w.Write(3, []string{"d"})) // a record named twice keeps both
	require.NoError(t, w.Flush())
	got, err := linkage.ReadBlocks(bytes.NewReader(buf.Bytes()), 2, 6)
	require.NoError(t, err)
	require.Equal(t, [][]string{nil, {"c", "d"}, nil, {"a"}}, got)
	_, err = linkage.ReadBlocks(strings.NewReader("{broken"), 0, 1)
	require.Error(t, err)
}

func TestLimitError(t *testing.T) {
	err := &linkage.LimitError{Limit: "max-upload-records", Max: 10}
	require.ErrorIs(t, err, linkage.ErrLimit)
	require.Equal(t, "limit max-upload-records exceeded (maximum 10)", err.Error())
}

func TestKeys(t *testing.T) {
	require.Equal(t, "projects/p/uploads/1.clk", linkage.UploadKey("p", 1, ""))
	require.NotEqual(t, linkage.UploadKey("p", 1, "a"), linkage.UploadKey("p", 1, "b"), "each attempt writes its own blob")
	require.NotEqual(t, linkage.UploadKey("p", 1, "a"), linkage.UploadKey("p", 1, ""))
	require.True(t, strings.HasPrefix(linkage.UploadKey("p", 1, "a"), linkage.ProjectPrefix("p")))
	require.True(t, strings.HasPrefix(linkage.ChunkKey("p", "r", 2), linkage.RunPrefix("p", "r")))
	require.True(t, strings.HasPrefix(linkage.RunPrefix("p", "r"), linkage.ProjectPrefix("p")))
	require.Equal(t, "projects/p/runs/r/result-mask.json", linkage.ResultKey("p", "r", "", "mask"))
	for _, part := range []string{linkage.PartResult, linkage.PartMask, linkage.PartScoresFile} {
		a := linkage.ResultKey("p", "r", "a", part)
		require.NotEqual(t, a, linkage.ResultKey("p", "r", "b", part), "each solve attempt writes its own blobs")
		require.NotEqual(t, a, linkage.ResultKey("p", "r", "", part))
		require.True(t, strings.HasPrefix(a, linkage.SolvePrefix("p", "r", "a")))
		require.False(t, strings.HasPrefix(a, linkage.SolvePrefix("p", "r", "b")))
	}
	require.True(t, strings.HasPrefix(linkage.HistogramKey("p", "r", "a"), linkage.SolvePrefix("p", "r", "a")))
	require.True(t, strings.HasPrefix(linkage.SolvePrefix("p", "r", "a"), linkage.RunPrefix("p", "r")))
	// Stored layout: deployed data must stay readable, so the exact names are pinned.
	for got, want := range map[string]string{
		linkage.BlocksKey("p", 0, ""):                           "projects/p/uploads/0.blocks",
		linkage.UploadKey("p", 0, "a1"):                         "projects/p/uploads/0-a1.clk",
		linkage.BlocksKey("p", 0, "a1"):                         "projects/p/uploads/0-a1.blocks",
		linkage.ExternalUploadPrefix("p", 1):                    "projects/p/external/1/",
		linkage.ChunkKey("p", "r", 2):                           "projects/p/runs/r/chunks/2.cand",
		linkage.ChunkHistogramKey("p", "r", 2):                  "projects/p/runs/r/chunks/2.hist",
		linkage.HistogramKey("p", "r", ""):                      "projects/p/runs/r/result-histogram.json",
		linkage.ResultKey("p", "r", "", linkage.PartResult):     "projects/p/runs/r/result.json",
		linkage.ResultKey("p", "r", "", linkage.PartParty(1)):   "projects/p/runs/r/result-party-1.json",
		linkage.ResultKey("p", "r", "", linkage.PartScoresFile): "projects/p/runs/r/similarity_scores.bin",
		linkage.ResultKey("p", "r", "s1", linkage.PartMask):     "projects/p/runs/r/solve-s1/result-mask.json",
		linkage.HistogramKey("p", "r", "s1"):                    "projects/p/runs/r/solve-s1/result-histogram.json",
	} {
		require.Equal(t, want, got)
	}
	require.True(t, strings.HasPrefix(linkage.ChunkHistogramKey("p", "r", 2), linkage.ChunksPrefix("p", "r")))
}
