package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"slices"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/results"
)

// runLink links the CLK files of 2..N parties and prints the result JSON
// exactly as the API returns it.
func runLink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("link", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: linkage link --threshold T --result groups|permutations|similarity_scores [flags] FILE FILE...")
		fmt.Fprintln(stderr, `each FILE is one party's {"clks": ["<base64>", ...]} JSON; the result JSON goes to stdout`)
		fs.PrintDefaults()
	}
	threshold := fs.Float64("threshold", 0, "Dice similarity threshold, 0 < T ≤ 1 (required)")
	result := fs.String("result", "groups", "result type: groups, permutations or similarity_scores")
	topK := fs.Int("top-k", 0, "keep only the k best candidates per record (0: all)")
	workers := fs.Int("workers", 0, "comparison goroutines (0: GOMAXPROCS)")
	seed := fs.Uint64("seed", 0, "seed of the permutations' random rows (0: random)")
	hist := registerHistogram(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	files := fs.Args()
	switch *result {
	case "groups":
		if len(files) < 2 {
			return fmt.Errorf("link: groups needs at least 2 files, got %d", len(files))
		}
	case "permutations", "similarity_scores":
		if len(files) != 2 {
			return fmt.Errorf("link: %s needs exactly 2 files, got %d", *result, len(files))
		}
	default:
		return fmt.Errorf("link: unknown --result %q (want groups, permutations or similarity_scores)", *result)
	}
	if *threshold <= 0 || *threshold > 1 {
		return fmt.Errorf("link: --threshold %v is not in (0, 1]", *threshold)
	}

	parties := make([]*engine.CLKs, len(files))
	for i, name := range files {
		c, err := readCLKFile(name)
		if err != nil {
			return fmt.Errorf("link: %w", err)
		}
		if i > 0 && c.Size() != parties[0].Size() {
			return fmt.Errorf("link: %s has %d-byte CLKs but %s has %d-byte CLKs", name, c.Size(), files[0], parties[0].Size())
		}
		parties[i] = c
	}
	cands, err := engine.CompareAll(ctx, parties, nil, engine.Options{Threshold: *threshold, TopK: *topK, Workers: *workers})
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if err := hist.write(ctx, parties, cands, *threshold, *workers); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	switch *result {
	case "groups":
		return results.WriteGroups(stdout, engine.Groups(cands))
	case "similarity_scores":
		return results.WriteSimilarityScores(stdout, slices.Values(cands))
	default:
		s := *seed
		if s == 0 {
			var b [8]byte
			_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
			s = binary.LittleEndian.Uint64(b[:])
		}
		p, err := engine.Permutations(cands, parties[0].Len(), parties[1].Len(), mrand.New(mrand.NewPCG(s, 0)))
		if err != nil {
			return fmt.Errorf("link: %w", err)
		}
		return results.WritePermutations(stdout, p)
	}
}

// readCLKFile streams a {"clks": [...]} file record by record, so memory
// holds the decoded CLKs only.
func readCLKFile(name string) (*engine.CLKs, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := decodeCLKs(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

func decodeCLKs(r io.Reader) (*engine.CLKs, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var data []byte
	var rd engine.RecordDecoder
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("bad JSON: %w", err)
		}
		if tok != "clks" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, fmt.Errorf("bad JSON: %w", err)
			}
			continue
		}
		found = true
		if err := expectDelim(dec, '['); err != nil {
			return nil, fmt.Errorf(`"clks": %w`, err)
		}
		for dec.More() {
			var s string
			if err := dec.Decode(&s); err != nil {
				return nil, fmt.Errorf("record %d: not a base64 string: %w", rd.Count(), err)
			}
			b, err := rd.Decode(s)
			if err != nil {
				return nil, err
			}
			data = append(data, b...)
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("bad JSON: %w", err)
		}
	}
	if !found {
		return nil, errors.New(`no "clks" key: expected {"clks": ["<base64>", ...]}`)
	}
	if rd.Count() == 0 {
		return nil, engine.ErrEmpty
	}
	return engine.New(data, rd.Size())
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	if tok != d {
		return fmt.Errorf("bad JSON: expected %q, found %v", d, tok)
	}
	return nil
}
