package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/histogram"
)

// histogramFlags are link's flags for the score distribution plot.
type histogramFlags struct {
	out   *string
	floor *float64
	bins  *int
	scale *string
}

func registerHistogram(fs *flag.FlagSet) *histogramFlags {
	return &histogramFlags{
		out:   fs.String("histogram", "", "also write the distribution of scores ≥ --histogram-floor over all compared pairs to this file: SVG plot, or JSON bins if it ends in .json"),
		floor: fs.Float64("histogram-floor", histogram.DefaultFloor, "lowest score in the histogram, 0 < floor < 1"),
		bins:  fs.Int("histogram-bins", histogram.DefaultBins, "number of histogram bins between the floor and 1"),
		scale: fs.String("histogram-scale", "log", "count axis of the SVG plot: log or linear"),
	}
}

// write counts every pair of every party pair exactly: the candidates at or above the threshold
// from cands, the pairs below it in a counting pass that keeps no candidate lists.
func (f *histogramFlags) write(ctx context.Context, parties []*engine.CLKs, cands []engine.Candidate, threshold float64, workers int) error {
	if *f.out == "" {
		return nil
	}
	if *f.scale != "log" && *f.scale != "linear" {
		return fmt.Errorf("--histogram-scale %q: want log or linear", *f.scale)
	}
	h, err := histogram.New(*f.floor, *f.bins, 1, threshold)
	if err != nil {
		return fmt.Errorf("--histogram-floor/--histogram-bins: %w", err)
	}
	for p := range parties {
		for q := p + 1; q < len(parties); q++ {
			if err := h.Sample(ctx, parties[p], parties[q], engine.Options{Workers: workers}); err != nil {
				return err
			}
		}
	}
	h.AddCandidates(cands)
	file, err := os.Create(*f.out)
	if err != nil {
		return fmt.Errorf("--histogram: %w", err)
	}
	if strings.HasSuffix(strings.ToLower(*f.out), ".json") {
		err = json.NewEncoder(file).Encode(h)
	} else {
		err = histogram.WriteSVG(file, h, histogram.SVGOptions{Log: *f.scale == "log", Threshold: threshold})
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--histogram %s: %w", *f.out, err)
	}
	return nil
}
