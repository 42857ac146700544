package results

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"iter"
	"math"
	"slices"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/linkage"
)

// Solve turns a linkage's candidates into the documents of its result type,
// handing each to put with its part name (linkage.Part*): PartResult for
// groups; PartResult and PartScoresFile for similarity_scores; PartMask,
// PartParty(0) and PartParty(1) for permutations. sizes are the parties' record
// counts; seed decides the permutations' random rows (the service uses the
// run id, so solving a run again gives the same result). The worker and
// `linkage link` both call it, so their documents are byte-identical.
func Solve(rt linkage.ResultType, cands []engine.Candidate, sizes []int, seed string,
	put func(part string, write func(io.Writer) error) error) error {
	if err := rt.Validate(len(sizes)); err != nil {
		return err
	}
	switch rt {
	case linkage.ResultGroups:
		groups := engine.Groups(cands)
		return put(linkage.PartResult, func(w io.Writer) error { return WriteGroups(w, groups) })
	case linkage.ResultSimilarityScores:
		engine.SortCandidates(cands)
		if err := put(linkage.PartResult, func(w io.Writer) error { return WriteSimilarityScores(w, slices.Values(cands)) }); err != nil {
			return err
		}
		return put(linkage.PartScoresFile, func(w io.Writer) error { return WriteScoresFile(w, slices.Values(cands)) })
	default: // permutations
		p, err := engine.Permutations(cands, sizes[0], sizes[1], seed)
		if err != nil {
			return err
		}
		for party, perm := range p.Perms {
			if err := put(linkage.PartParty(party), func(w io.Writer) error { return WritePermutation(w, perm, p.Rows) }); err != nil {
				return err
			}
		}
		return put(linkage.PartMask, func(w io.Writer) error { return WriteMask(w, p.Mask) })
	}
}

// WriteScoresFile writes the reference's binary candidate-pair file: a
// 4-byte header (format version 1, then the byte sizes of a score, a party
// index and a row index: 8, 1, 4), then per pair, little-endian, the score
// (float64), the parties of the first and second record (uint8) and their
// rows (uint32). No count is stored: the file ends after the last pair.
func WriteScoresFile(w io.Writer, scores iter.Seq[engine.Candidate]) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.Write([]byte{1, 8, 1, 4}); err != nil {
		return fmt.Errorf("write scores file: %w", err)
	}
	var b [8 + 1 + 1 + 4 + 4]byte
	for c := range scores {
		if c.A.Party < 0 || c.A.Party > math.MaxUint8 || c.B.Party < 0 || c.B.Party > math.MaxUint8 || c.A.Row < 0 || c.B.Row < 0 {
			return fmt.Errorf("write scores file: party or row out of range: %+v", c)
		}
		binary.LittleEndian.PutUint64(b[0:], math.Float64bits(c.Score))
		b[8], b[9] = uint8(c.A.Party), uint8(c.B.Party)
		binary.LittleEndian.PutUint32(b[10:], uint32(c.A.Row))
		binary.LittleEndian.PutUint32(b[14:], uint32(c.B.Row))
		if _, err := bw.Write(b[:]); err != nil {
			return fmt.Errorf("write scores file: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write scores file: %w", err)
	}
	return nil
}
