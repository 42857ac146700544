package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/linkage"
	"github.com/linkage-platform/linkage/app/results"
)

// runLink links the CLK files of 2..N parties and prints a result document
// byte for byte as the API returns it for a run whose id is --seed:
// the groups or similarity scores, or for permutations the mask (the result
// token's view) or, with --party, that party's permutation (its receipt
// token's view).
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
	seed := fs.String("seed", "", "seed of the permutations' random rows; the service seeds with the run id (empty: random)")
	party := fs.Int("party", -1, "permutations: print this party's permutation instead of the mask")
	kernel := fs.String("kernel", os.Getenv("LINKAGE_KERNEL"), kernelUsage()+" [$LINKAGE_KERNEL]")
	hist := registerHistogram(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := useKernel(*kernel); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	files := fs.Args()
	rt := linkage.ResultType(*result)
	if err := rt.Validate(len(files)); err != nil {
		return fmt.Errorf("link: --result: %w", err)
	}
	if rt == linkage.ResultGroups && len(files) < 2 {
		return fmt.Errorf("link: groups needs at least 2 files, got %d", len(files))
	}
	if err := linkage.ValidateThreshold(*threshold); err != nil {
		return fmt.Errorf("link: --threshold: %w", err)
	}
	want := linkage.PartResult
	if rt == linkage.ResultPermutations {
		want = linkage.PartMask
		if *party >= 0 {
			if *party >= len(files) {
				return fmt.Errorf("link: --party %d: there are %d parties", *party, len(files))
			}
			want = linkage.PartParty(*party)
		}
	} else if *party >= 0 {
		return fmt.Errorf("link: --party is for permutations only")
	}
	if *seed == "" {
		*seed = linkage.NewID()
	}

	parties := make([]*engine.CLKs, len(files))
	sizes := make([]int, len(files))
	for i, name := range files {
		c, err := readCLKFile(name)
		if err != nil {
			return fmt.Errorf("link: %w", err)
		}
		if i > 0 && c.Size() != parties[0].Size() {
			return fmt.Errorf("link: %s has %d-byte CLKs but %s has %d-byte CLKs", name, c.Size(), files[0], parties[0].Size())
		}
		parties[i], sizes[i] = c, c.Len()
	}
	cands, err := engine.CompareAll(ctx, parties, nil, engine.Options{Threshold: *threshold, TopK: *topK, Workers: *workers})
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	if err := hist.write(ctx, parties, cands, *threshold, *workers); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	err = results.Solve(rt, cands, sizes, *seed, func(part string, write func(io.Writer) error) error {
		if part != want {
			return nil
		}
		return write(stdout)
	})
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	return nil
}

// readCLKFile streams a {"clks": [...]} file record by record, so memory
// holds the decoded CLKs only.
func readCLKFile(name string) (*engine.CLKs, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := engine.ReadCLKJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}
