package histogram

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
)

// SVGOptions tune WriteSVG.
type SVGOptions struct {
	// Log draws counts on a logarithmic axis: the match mode is often thousands of times
	// smaller than the non-match mode and invisible on a linear one.
	Log bool
	// Title is drawn above the plot; empty gives a description of the data.
	Title string
	// Threshold, when in (0, 1], is marked with a dashed line.
	Threshold float64
}

// Plot geometry in SVG user units.
const (
	svgW, svgH                    = 800, 420
	padL, padR, padTop, padBottom = 78, 24, 44, 58
	plotW, plotH                  = svgW - padL - padR, svgH - padTop - padBottom
)

// WriteSVG draws h as a bar chart with axes, ticks and labels; it needs no fonts or scripts.
func WriteSVG(w io.Writer, h *Histogram, opt SVGOptions) error {
	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	var maxCount int64
	sampled := false
	for i := range h.Bins {
		maxCount = max(maxCount, h.Count(i))
		sampled = sampled || (h.Stride > 1 && h.Sampled[i] > 0)
	}
	y := yScale(maxCount, opt.Log)
	x := func(s float64) float64 { return padL + (s-h.Floor)/(1-h.Floor)*plotW }

	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	title := opt.Title
	if title == "" {
		title = fmt.Sprintf("Dice scores ≥ %s of %s compared pairs", trim(h.Floor), humanCount(h.Compared*int64(h.Stride)))
	}
	p(`<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", padL, html.EscapeString(title))

	// Grid and y ticks.
	for _, t := range y.ticks {
		py := padTop + plotH - y.pos(t)*plotH
		p(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e5e5e5"/>`+"\n", padL, py, padL+plotW, py)
		p(`<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", padL-6, py, humanCount(int64(t)))
	}
	// Bars.
	bar := float64(plotW) / float64(h.Bins)
	for i := range h.Bins {
		c := h.Count(i)
		if c <= 0 {
			continue
		}
		top := y.pos(float64(c)) * plotH
		fill := "#3b6ea8"
		if h.Stride > 1 && h.Sampled[i] > 0 {
			fill = "#9bb7d6"
		}
		lo, hi := h.Edges(i)
		p(`<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>[%s, %s): %d pairs</title></rect>`+"\n",
			float64(padL)+float64(i)*bar+0.5, padTop+plotH-top, max(bar-1, 0.5), top, fill, trim(lo), trim(hi), c)
	}
	// Axes and x ticks every 0.05 (0.1 when the range is wide).
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", padL, padTop+plotH, padL+plotW, padTop+plotH)
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", padL, padTop, padL, padTop+plotH)
	step := 0.05
	if 1-h.Floor > 0.5 {
		step = 0.1
	}
	for k := math.Ceil(h.Floor/step - 1e-9); k*step <= 1+1e-9; k++ {
		s := k * step
		px := x(s)
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333"/>`+"\n", px, padTop+plotH, px, padTop+plotH+5)
		p(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px, padTop+plotH+18, trim(math.Round(s*100)/100))
	}
	p(`<text x="%d" y="%d" text-anchor="middle">Dice similarity</text>`+"\n", padL+plotW/2, svgH-14)
	ylabel := "pairs"
	if opt.Log {
		ylabel = "pairs (log scale)"
	}
	p(`<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", padTop+plotH/2, ylabel)
	// Threshold marker.
	if opt.Threshold > 0 && opt.Threshold <= 1 && opt.Threshold >= h.Floor {
		px := x(opt.Threshold)
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c0392b" stroke-width="1.5" stroke-dasharray="6 4"/>`+"\n", px, padTop, px, padTop+plotH)
		p(`<text x="%.1f" y="%d" fill="#c0392b" text-anchor="end">threshold %s</text>`+"\n", px-4, padTop+12, trim(opt.Threshold))
	}
	if sampled {
		p(`<rect x="%d" y="30" width="10" height="10" fill="#9bb7d6"/><text x="%d" y="39">estimated from every %s row</text>`+"\n",
			svgW-padR-230, svgW-padR-216, ordinal(h.Stride))
	}
	p("</svg>\n")
	return bw.Flush()
}

// scale maps counts to [0, 1] of the plot height and lists the tick values.
type scale struct {
	pos   func(v float64) float64
	ticks []float64
}

func yScale(maxCount int64, logScale bool) scale {
	if logScale {
		top := math.Max(1, math.Ceil(math.Log10(float64(max(maxCount, 1)))))
		s := scale{pos: func(v float64) float64 {
			if v < 1 {
				return 0
			}
			// log10(1) = 0 is the axis: a bin of 1 pair gets a small visible bar.
			return (math.Log10(v) + 0.15) / (top + 0.15)
		}}
		for e := 0.0; e <= top; e++ {
			s.ticks = append(s.ticks, math.Pow(10, e))
		}
		return s
	}
	step := niceStep(float64(max(maxCount, 1)) / 5)
	top := math.Ceil(float64(max(maxCount, 1))/step) * step
	s := scale{pos: func(v float64) float64 { return v / top }}
	for t := 0.0; t <= top+step/2; t += step {
		s.ticks = append(s.ticks, t)
	}
	return s
}

// niceStep rounds x up to 1, 2 or 5 times a power of ten (at least 1: counts are integers).
func niceStep(x float64) float64 {
	if x <= 1 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= x {
			return m * e
		}
	}
	return 10 * e
}

// humanCount writes 1200 as 1.2k and 3000000 as 3M.
func humanCount(n int64) string {
	f := float64(n)
	for _, u := range []struct {
		div  float64
		unit string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if f >= u.div {
			return trim(math.Round(f/u.div*10)/10) + u.unit
		}
	}
	return strconv.FormatInt(n, 10)
}

func trim(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return strconv.Itoa(n) + suffix
}
