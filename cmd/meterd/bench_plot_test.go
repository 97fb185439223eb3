package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
)

var testPanels = []plotPanel{
	{title: "against distinct customers", xTitle: "customers", yTitle: "records/s", logX: true,
		xs: []float64{1e3, 1e4, 1e5, 1e6}, xLabels: []string{"1k", "10k", "100k", "1M"}, ys: []float64{18265, 20930, 21814, math.NaN()}},
	{title: "against records stored", xTitle: "records", yTitle: "records/s",
		xs: []float64{0, 1e6, 3e6}, xLabels: []string{"0", "1M", "3M"}, ys: []float64{18272, 11597, 7954}},
}

func TestPlotSVGIsDeterministicWellFormedXML(t *testing.T) {
	a := plotSVG("throughput <&>", testPanels)
	b := plotSVG("throughput <&>", testPanels)
	if !bytes.Equal(a, b) {
		t.Fatal("two calls with the same figures made different files")
	}
	dec := xml.NewDecoder(bytes.NewReader(a))
	var polylines, circles, texts []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, a)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "polyline":
				for _, at := range se.Attr {
					if at.Name.Local == "points" {
						polylines = append(polylines, at.Value)
					}
				}
			case "circle":
				circles = append(circles, se.Name.Local)
			}
		}
		if cd, ok := tok.(xml.CharData); ok {
			texts = append(texts, string(cd))
		}
	}
	// The NaN point is left out: 3 + 3 points.
	if len(polylines) != 2 || len(strings.Fields(polylines[0])) != 3 || len(strings.Fields(polylines[1])) != 3 {
		t.Errorf("polylines %q, want two of 3 points", polylines)
	}
	if len(circles) != 6 {
		t.Errorf("%d circles, want 6", len(circles))
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"throughput <&>", "1k", "1M", "18.3k", "21.8k", "7.95k", "records/s"} {
		if !strings.Contains(all, want) {
			t.Errorf("no text %q in %q", want, all)
		}
	}
	if bytes.Contains(a, []byte("NaN")) || bytes.Contains(a, []byte("Inf")) {
		t.Errorf("NaN or Inf in the SVG:\n%s", a)
	}
}

func TestPlotSVGLogAxisSpacesDecadesEvenly(t *testing.T) {
	svg := string(plotSVG("", testPanels[:1]))
	i := strings.Index(svg, `points="`)
	pts := strings.Fields(svg[i+len(`points="`) : strings.Index(svg[i:], `" `)+i])
	var xs []float64
	for _, p := range pts {
		var x, y float64
		if _, err := fmt.Sscanf(p, "%f,%f", &x, &y); err != nil {
			t.Fatal(err)
		}
		xs = append(xs, x)
	}
	if len(xs) != 3 || math.Abs((xs[1]-xs[0])-(xs[2]-xs[1])) > 0.2 {
		t.Errorf("x positions %v of 1k, 10k, 100k are not evenly spaced", xs)
	}
}

func TestPlotSVGOnePointAndNoPoints(t *testing.T) {
	for _, p := range []plotPanel{
		{xs: []float64{5}, xLabels: []string{"5"}, ys: []float64{0}},
		{},
		{xs: []float64{1, 2}, ys: []float64{math.NaN(), math.NaN()}},
	} {
		svg := plotSVG("t", []plotPanel{p})
		if bytes.Contains(svg, []byte("NaN")) || bytes.Contains(svg, []byte("Inf")) {
			t.Errorf("%+v: NaN or Inf in\n%s", p, svg)
		}
	}
}

func TestNiceStepAndShortNumber(t *testing.T) {
	for raw, want := range map[float64]float64{0: 1, 3: 5, 7: 10, 12: 20, 4500: 5000, 5000: 5000, 0.3: 0.5} {
		if got := niceStep(raw); math.Abs(got-want) > 1e-9 {
			t.Errorf("niceStep(%g) = %g, want %g", raw, got, want)
		}
	}
	for n, want := range map[float64]string{0: "0", 12.5: "12.5", 1000: "1k", 18265: "18.3k", 1e6: "1M", 2.5e6: "2.5M", 1e7: "10M", 999: "999", 7954: "7.95k", 999999: "1M", 999.7: "1k", 0.5: "0.5"} {
		if got := shortNumber(n); got != want {
			t.Errorf("shortNumber(%g) = %q, want %q", n, got, want)
		}
	}
}

func TestPlotSVGSharedTop(t *testing.T) {
	p := plotPanel{xs: []float64{1, 2}, ys: []float64{10, 20}, yMax: 100000}
	if svg := string(plotSVG("", []plotPanel{p})); !strings.Contains(svg, ">100k<") {
		t.Errorf("yMax 100000: no 100k tick in\n%s", svg)
	}
}
