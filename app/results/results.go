// Package results solves a linkage into the documents of its result type and writes them, exactly as
// the API returns them, streaming to an io.Writer. The CLI (linkage link) and
// the API share it, so their outputs are byte-identical. Every document ends
// with a newline.
package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"strconv"

	"github.com/linkage-platform/linkage/app/engine"
)

// WriteGroups writes {"groups": [[[party, row], ...], ...]}.
func WriteGroups(w io.Writer, groups [][]engine.Record) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	b := make([]byte, 0, 256)
	b = append(b, `{"groups":[`...)
	for i, g := range groups {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j, r := range g {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendRecord(b, r)
		}
		b = append(b, ']')
		if len(b) > 32<<10 {
			if _, err := bw.Write(b); err != nil {
				return fmt.Errorf("write groups: %w", err)
			}
			b = b[:0]
		}
	}
	b = append(b, "]}\n"...)
	return flush(bw, b, "groups")
}

// WriteSimilarityScores writes {"similarity_scores": [[[party, row], [party,
// row], score], ...]} from a sequence, so the result never has to be one
// in-memory JSON value.
func WriteSimilarityScores(w io.Writer, scores iter.Seq[engine.Candidate]) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	b := make([]byte, 0, 256)
	b = append(b, `{"similarity_scores":[`...)
	first := true
	for c := range scores {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '[')
		b = appendRecord(b, c.A)
		b = append(b, ',')
		b = appendRecord(b, c.B)
		b = append(b, ',')
		b = appendScore(b, c.Score)
		b = append(b, ']')
		if len(b) > 32<<10 {
			if _, err := bw.Write(b); err != nil {
				return fmt.Errorf("write similarity scores: %w", err)
			}
			b = b[:0]
		}
	}
	b = append(b, "]}\n"...)
	return flush(bw, b, "similarity scores")
}

// WritePermutation writes one party's permutation as the API returns it to
// that party: {"permutation": [...], "rows": n}.
func WritePermutation(w io.Writer, perm []int, rows int) error {
	b := append([]byte(nil), `{"permutation":`...)
	b = appendInts(b, perm)
	b = append(b, `,"rows":`...)
	b = strconv.AppendInt(b, int64(rows), 10)
	b = append(b, "}\n"...)
	return flush(bufio.NewWriter(w), b, "permutation")
}

// WriteMask writes the mask as the API returns it to the result token holder:
// {"mask": [...]}.
func WriteMask(w io.Writer, mask []int) error {
	b := append([]byte(nil), `{"mask":`...)
	b = appendInts(b, mask)
	b = append(b, "}\n"...)
	return flush(bufio.NewWriter(w), b, "mask")
}

func flush(bw *bufio.Writer, b []byte, what string) error {
	if _, err := bw.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}

func appendRecord(b []byte, r engine.Record) []byte {
	b = append(b, '[')
	b = strconv.AppendInt(b, int64(r.Party), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.Row), 10)
	return append(b, ']')
}

func appendInts(b []byte, xs []int) []byte {
	b = append(b, '[')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	return append(b, ']')
}

// appendScore formats a score as a JSON float the way Python writes it: the
// shortest representation that parses back to the same float64, and always
// with a fraction or exponent (1.0, not 1: clients tell floats from ints).
func appendScore(b []byte, s float64) []byte {
	start := len(b)
	if s >= 1e-6 && s < 1e21 {
		b = strconv.AppendFloat(b, s, 'f', -1, 64)
	} else {
		j, _ := json.Marshal(s) // scores are finite: Marshal cannot fail
		b = append(b, j...)
	}
	if !bytes.ContainsAny(b[start:], ".e") {
		b = append(b, ".0"...)
	}
	return b
}
