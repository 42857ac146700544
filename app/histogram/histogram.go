// Package histogram is the distribution of Dice scores above a floor: the plot record-linkage
// people read to place the threshold between the non-match and the match modes. It counts
// scores (exactly from candidates, or from a deterministic sample of compared pairs), merges the
// counts of a run's chunks, and renders them as JSON bins or as an SVG bar chart.
package histogram

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// DefaultFloor is the lowest score counted unless configured otherwise.
const DefaultFloor = 0.5

// DefaultBins splits [floor, 1] into bins of 0.01 for the default floor.
const DefaultBins = 50

// Histogram counts scores in [Floor, 1] in equal bins. Exact holds pairs counted one by one
// (the candidates of a run, at or above its threshold); Sampled holds pairs below Limit counted
// on every Stride-th row of the first party only, which stands for Stride times as many pairs.
// With Stride 1 every bin is exact.
type Histogram struct {
	Floor   float64
	Bins    int
	Stride  int     // sampling stride of Sampled (1: all rows)
	Limit   float64 // Sampled holds scores < Limit (the run threshold; scores ≥ it are Exact)
	Exact   []int64
	Sampled []int64
	// Compared is the number of pairs Sample scored, whether or not their score reached the
	// floor; they stand for Compared·Stride pairs of the run.
	Compared int64
}

// New returns an empty histogram of bins bins over [floor, 1]; the sampled part counts scores
// below limit on every stride-th row.
func New(floor float64, bins, stride int, limit float64) (*Histogram, error) {
	if !(floor > 0 && floor < 1) {
		return nil, fmt.Errorf("histogram floor %v is not in (0, 1)", floor)
	}
	if bins < 1 || bins > 1000 {
		return nil, fmt.Errorf("histogram bins %d is not in [1, 1000]", bins)
	}
	if stride < 1 {
		return nil, fmt.Errorf("histogram stride %d is not positive", stride)
	}
	if !(limit > 0 && limit <= 1) {
		return nil, fmt.Errorf("histogram limit %v is not in (0, 1]", limit)
	}
	return &Histogram{Floor: floor, Bins: bins, Stride: stride, Limit: limit,
		Exact: make([]int64, bins), Sampled: make([]int64, bins)}, nil
}

// Bin is the bin of score s, or -1 below the floor. A score on a bin edge (0.8 exactly) falls in
// the bin it starts: the slack absorbs float rounding and is far below the smallest gap between
// two distinct Dice scores (≥ 1/(bins·2·bits)).
func (h *Histogram) Bin(s float64) int {
	if s < h.Floor {
		return -1
	}
	i := int(math.Floor((s-h.Floor)/(1-h.Floor)*float64(h.Bins) + 1e-9))
	return min(i, h.Bins-1)
}

// AddExact counts one pair of score s exactly.
func (h *Histogram) AddExact(s float64) {
	if i := h.Bin(s); i >= 0 {
		h.Exact[i]++
	}
}

// Merge adds o's counts; o must have the same bins, stride and limit (chunks of one run).
func (h *Histogram) Merge(o *Histogram) error {
	if o.Floor != h.Floor || o.Bins != h.Bins || o.Stride != h.Stride || o.Limit != h.Limit {
		return fmt.Errorf("merge histograms: floor/bins/stride/limit %v/%d/%d/%v and %v/%d/%d/%v differ",
			h.Floor, h.Bins, h.Stride, h.Limit, o.Floor, o.Bins, o.Stride, o.Limit)
	}
	for i := range h.Exact {
		h.Exact[i] += o.Exact[i]
		h.Sampled[i] += o.Sampled[i]
	}
	h.Compared += o.Compared
	return nil
}

// Count is the (estimated) number of pairs in bin i.
func (h *Histogram) Count(i int) int64 { return h.Exact[i] + h.Sampled[i]*int64(h.Stride) }

// Edges are the bounds [lo, hi) of bin i, rounded to 1e-9 for display.
func (h *Histogram) Edges(i int) (lo, hi float64) {
	w := (1 - h.Floor) / float64(h.Bins)
	return round9(h.Floor + float64(i)*w), round9(h.Floor + float64(i+1)*w)
}

func round9(x float64) float64 { return math.Round(x*1e9) / 1e9 }

// Bin of the JSON form.
type jsonBin struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Count int64   `json:"count"`
	// Exact is false when part of the count is estimated from the sample.
	Exact bool `json:"exact"`
}

type jsonHistogram struct {
	Floor    float64 `json:"floor"`
	BinWidth float64 `json:"bin_width"`
	Stride   int     `json:"sample_stride"`
	Limit    float64 `json:"exact_from"`
	// Comparisons is the estimated number of pairs compared; Sampled the pairs actually scored.
	Comparisons int64     `json:"comparisons"`
	Scored      int64     `json:"sampled_comparisons"`
	Bins        []jsonBin `json:"bins"`
	// Raw counts, so that the stored form round-trips exactly.
	Exact   []int64 `json:"exact_counts"`
	Sampled []int64 `json:"sampled_counts"`
}

// MarshalJSON writes the bins (lo, hi, estimated count, exact) and the raw counts.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	j := jsonHistogram{Floor: h.Floor, BinWidth: round9((1 - h.Floor) / float64(h.Bins)), Stride: h.Stride,
		Limit: h.Limit, Comparisons: h.Compared * int64(h.Stride), Scored: h.Compared, Exact: h.Exact, Sampled: h.Sampled, Bins: make([]jsonBin, h.Bins)}
	for i := range h.Bins {
		lo, hi := h.Edges(i)
		j.Bins[i] = jsonBin{Lo: lo, Hi: hi, Count: h.Count(i), Exact: h.Stride == 1 || h.Sampled[i] == 0}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote, checking it.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var j jsonHistogram
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	n, err := New(j.Floor, len(j.Exact), j.Stride, j.Limit)
	if err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	if len(j.Sampled) != len(j.Exact) || j.Scored < 0 {
		return errors.New("histogram: exact_counts and sampled_counts differ in length, or sampled_comparisons is negative")
	}
	for i := range j.Exact {
		if j.Exact[i] < 0 || j.Sampled[i] < 0 {
			return fmt.Errorf("histogram: bin %d has a negative count", i)
		}
	}
	n.Exact, n.Sampled, n.Compared = j.Exact, j.Sampled, j.Scored
	*h = *n
	return nil
}
