package main

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// plotPanel is one line chart: ys against xs, the points labelled on the
// x axis with xLabels. NaN ys (a point that failed) are left out.
type plotPanel struct {
	title  string
	xTitle string
	yTitle string
	// logX spaces the x axis by powers of ten; every x must be positive.
	logX    bool
	xs      []float64
	xLabels []string
	ys      []float64
	// yMax, when above every y, is the top the y axis reaches at least:
	// panels given the same one compare at a glance.
	yMax float64
}

// Geometry of the SVG, in pixels.
const (
	plotPanelW = 440
	plotPanelH = 300
	plotLeft   = 70 // room for the y tick labels and title
	plotRight  = 20
	plotTop    = 50
	plotBottom = 55
)

// plotSVG draws the panels side by side under a title, with the standard
// library only. The output depends on nothing but its arguments, so that
// the same figures make the same file and a re-run changes it only when a
// figure changed.
func plotSVG(title string, panels []plotPanel) []byte {
	w, h := plotPanelW*max(len(panels), 1), plotPanelH+30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="20" text-anchor="middle" font-size="15" font-weight="bold">%s</text>`+"\n", w/2, html.EscapeString(title))
	for i, p := range panels {
		fmt.Fprintf(&b, `<g transform="translate(%d,30)">`+"\n", i*plotPanelW)
		p.draw(&b)
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

func (p plotPanel) draw(b *strings.Builder) {
	x0, x1 := float64(plotLeft), float64(plotPanelW-plotRight)
	y0, y1 := float64(plotPanelH-plotBottom), float64(plotTop)
	fmt.Fprintf(b, `<text x="%.1f" y="20" text-anchor="middle" font-size="13">%s</text>`+"\n", (x0+x1)/2, html.EscapeString(p.title))

	yMax := max(p.yMax, 0)
	for _, y := range p.ys {
		if !math.IsNaN(y) {
			yMax = max(yMax, y)
		}
	}
	step := niceStep(yMax / 4)
	top := step * math.Ceil(yMax/step)
	if top <= 0 {
		top = step
	}
	ypos := func(y float64) float64 { return y0 - (y0-y1)*y/top }
	for v := 0.0; v <= top+step/2; v += step {
		y := ypos(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, y, x1, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", x0-6, y, shortNumber(v))
	}
	fmt.Fprintf(b, `<text transform="translate(14,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", (y0+y1)/2, html.EscapeString(p.yTitle))

	// The x axis: linear or by powers of ten, padded so that the end
	// points do not sit on the frame.
	tx := func(x float64) float64 {
		if p.logX {
			return math.Log10(x)
		}
		return x
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range p.xs {
		lo, hi = min(lo, tx(x)), max(hi, tx(x))
	}
	if len(p.xs) == 0 {
		lo, hi = 0, 1
	}
	if hi == lo {
		lo, hi = lo-1, hi+1
	}
	pad := (hi - lo) * 0.06
	lo, hi = lo-pad, hi+pad
	xpos := func(x float64) float64 { return x0 + (x1-x0)*(tx(x)-lo)/(hi-lo) }
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000"/>`+"\n", x0, y0, x1, y0)
	fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000"/>`+"\n", x0, y0, x0, y1)
	for i, x := range p.xs {
		label := ""
		if i < len(p.xLabels) {
			label = p.xLabels[i]
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000"/>`+"\n", xpos(x), y0, xpos(x), y0+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", xpos(x), y0+17, html.EscapeString(label))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", (x0+x1)/2, y0+40, html.EscapeString(p.xTitle))

	var pts []string
	for i, x := range p.xs {
		if i >= len(p.ys) || math.IsNaN(p.ys[i]) {
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", xpos(x), ypos(p.ys[i])))
	}
	if len(pts) > 1 {
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="#1f77b4" stroke-width="2"/>`+"\n", strings.Join(pts, " "))
	}
	for i, x := range p.xs {
		if i >= len(p.ys) || math.IsNaN(p.ys[i]) {
			continue
		}
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="#1f77b4"/>`+"\n", xpos(x), ypos(p.ys[i]))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11">%s</text>`+"\n", xpos(x), ypos(p.ys[i])-8, shortNumber(p.ys[i]))
	}
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten, so
// that the ticks fall on round numbers.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// shortNumber writes n to three significant digits, with k or M for
// thousands and millions: 1000 is "1k", 2500000 "2.5M", 7954 "7.95k".
func shortNumber(n float64) string {
	unit := ""
	switch a := math.Abs(n); {
	case a >= 999.5e3: // rounds to 1000k: 1M instead
		n, unit = n/1e6, "M"
	case a >= 999.5:
		n, unit = n/1e3, "k"
	}
	decimals := 0
	switch a := math.Abs(n); {
	case a < 10:
		decimals = 2
	case a < 100:
		decimals = 1
	}
	s := strconv.FormatFloat(n, 'f', decimals, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + unit
}
