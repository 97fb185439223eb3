package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/httpserver"
	"github.com/meterd/meterd/internal/loadgen"
)

// Markers of the scaling section of BENCHMARKS.md.
const (
	scalingBegin = "<!-- scaling:begin -->"
	scalingEnd   = "<!-- scaling:end -->"
)

// scalingPoint is one point of a curve: BatchMeterUsage against the
// baseline and against a `meterd serve` child, one after the other.
type scalingPoint struct {
	x        int64 // customers, or records stored before the run
	baseline benchRun
	meterd   benchRun
	mem      procMemory
	// files is the size of meterd's files after the child stopped, and
	// records the records they then held.
	files, records int64
	// setup is how long storing the point's state and records took.
	setup time.Duration
	err   error
}

// benchScaling is -scaling: BatchMeterUsage throughput against distinct
// customers and against records stored, each point a fresh `meterd serve`
// child (so that its memory can be read too) beside the baseline in this
// process.
func benchScaling(ctx context.Context, o *benchOptions, command string, stdout, stderr io.Writer) error {
	env := machineContext(ctx)
	dir, err := os.MkdirTemp("", "meterd-bench-scaling-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := meterdBinary(ctx, dir)
	if err != nil {
		return err
	}
	baseline, err := httpserver.Listen("127.0.0.1:0", httpserver.Routes{DataPlane: loadgen.DecodeOnlyHandler()}, slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("start baseline: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		baseline.Close(ctx)
	}()
	base := benchTarget{name: "baseline", endpoint: "http://" + baseline.Addr(), offsets: map[loadgen.Operation]int64{}}

	var customers, records []scalingPoint
	for _, n := range o.scalingCustomers {
		f := o.fixture
		f.Customers = int(n)
		point := filepath.Join(dir, fmt.Sprintf("customers-%d", n))
		p := scalingPoint{x: n}
		fmt.Fprintf(stderr, "bench: scaling: %d customers\n", n)
		b, err := newPointBuilder(ctx, point, f, env.start, 0)
		if err == nil {
			p.setup = b.time
			t := benchTarget{name: "meterd", offsets: map[loadgen.Operation]int64{}}
			err = o.measurePoint(ctx, stderr, bin, b.path, f, &base, &t, &p)
			p.records = min(t.succeeded[loadgen.OpBatch], batchKeys(f, env.start))
		}
		p.err = err
		if err != nil {
			fmt.Fprintf(stderr, "bench: scaling: %d customers: %v\n", n, err)
		}
		customers = append(customers, p)
		os.RemoveAll(point)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}

	counts := slices.Sorted(slices.Values(o.scalingRecords))
	b, err := newPointBuilder(ctx, filepath.Join(dir, "records"), o.fixture, env.start, counts[len(counts)-1])
	if err != nil {
		return err
	}
	t := benchTarget{name: "meterd", offsets: map[loadgen.Operation]int64{}}
	for _, n := range counts {
		p := scalingPoint{x: n}
		fmt.Fprintf(stderr, "bench: scaling: %d records stored\n", n)
		t0 := b.time
		err := b.grow(ctx, n, stderr)
		p.setup = b.time - t0
		if err == nil {
			err = o.measurePoint(ctx, stderr, bin, b.path, o.fixture, &base, &t, &p)
		}
		p.records = b.stored + min(t.succeeded[loadgen.OpBatch], batchKeys(o.fixture, env.start))
		p.err = err
		if err != nil {
			fmt.Fprintf(stderr, "bench: scaling: %d records: %v\n", n, err)
		}
		records = append(records, p)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	env.loadAfter = loadavg()

	plot := filepath.ToSlash(o.plot)
	section := scalingSection(env, *o, command, customers, records, plot)
	fmt.Fprint(stdout, section)
	if o.write == "" {
		return nil
	}
	svg := filepath.Join(filepath.Dir(o.write), o.plot)
	if err := os.MkdirAll(filepath.Dir(svg), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(svg, scalingPlot(customers, records), 0o644); err != nil {
		return err
	}
	if err := replaceMarked(o.write, scalingBegin, scalingEnd, section); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: wrote the curves to %s and %s\n", o.write, svg)
	return nil
}

// newPointBuilder makes a directory for a point's database and stores the
// fixture's state in it, for up to maxRecords records later.
func newPointBuilder(ctx context.Context, dir string, f loadgen.Fixture, now time.Time, maxRecords int64) (*builder, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return newBuilder(ctx, filepath.Join(dir, "meterd.db"), f, buildStart(now, f, maxRecords))
}

// measurePoint starts a child on database, runs BatchMeterUsage against
// the baseline and then the child, and stops the child.
func (o *benchOptions) measurePoint(ctx context.Context, stderr io.Writer, bin, database string, f loadgen.Fixture, base, meterd *benchTarget, p *scalingPoint) error {
	oo := *o
	oo.fixture = f
	oo.prefill = 0
	c, err := startChild(ctx, bin, database)
	if err != nil {
		return err
	}
	defer c.stop()
	meterd.endpoint, meterd.cpu = c.endpoint, c.cpu
	if p.baseline, err = oo.run(ctx, stderr, base, loadgen.OpBatch, oo.rate); err != nil {
		return err
	}
	if p.meterd, err = oo.run(ctx, stderr, meterd, loadgen.OpBatch, oo.rate); err != nil {
		return err
	}
	if p.mem, err = c.memory(); err != nil {
		return err
	}
	if err := c.stop(); err != nil {
		return err
	}
	files, err := dataFiles(database)
	for _, n := range files {
		p.files += n
	}
	return err
}

// scalingSection renders the scaling section of BENCHMARKS.md, markers
// included; plot is the SVG's path relative to the Markdown file.
func scalingSection(m machine, o benchOptions, command string, customers, records []scalingPoint, plot string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", scalingBegin)
	fmt.Fprintf(&b, "<!-- Generated by `meterd bench -scaling -write`: edit outside the markers. -->\n\n")
	fmt.Fprintf(&b, "`%s`, %s.\n\n", strings.TrimSpace(command), m.start.Format("2006-01-02 15:04 MST"))
	machineLines(&b, m)
	fmt.Fprintf(&b, "- Each point: a fresh `meterd serve` child process (SQLite, default durability) on a database prepared for it, and the decode-only baseline in this process, BatchMeterUsage ×%d from %d concurrent requests for %s each after a %s warm-up, the baseline first. VmHWM and VmRSS are the child's peak and current resident set (/proc/<pid>/status) after its run. Other cores is the CPU the rest of the machine used during meterd's run: generator and child are both counted out.\n",
		o.records, o.concurrency, o.duration, o.warmup)
	fmt.Fprintf(&b, "- Customers and records are stored before the child starts, through metering.Service into the store app opens, as a running meterd stores them (state through Service.ApplyState, which is quicker than writing and parsing a state file of a million customers). Stored records lie in hours before the run's, %d customers × %d dimensions an hour; the audit log of their calls is not built.\n\n",
		o.fixture.Customers, o.fixture.Dimensions)
	if plot != "" {
		fmt.Fprintf(&b, "![BatchMeterUsage records/s of meterd against distinct customers and against records stored](%s)\n\n", plot)
	}
	fmt.Fprintf(&b, "Distinct customers (%d dimensions each, nothing stored before):\n\n", o.fixture.Dimensions)
	b.WriteString("| customers | meterd records/s | baseline records/s | meterd/baseline | p99 | errors | VmHWM | VmRSS | customers stored in | other cores |\n")
	b.WriteString("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, p := range customers {
		c := p.cells()
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", groupDigits(p.x), c.meterd, c.baseline, c.ratio, c.p99, c.errors, c.hwm, c.rss, fmtSetup(p.setup), c.other)
	}
	fmt.Fprintf(&b, "\nRecords stored before the run (%d customers):\n\n", o.fixture.Customers)
	b.WriteString("| records stored | meterd records/s | baseline records/s | meterd/baseline | p99 | errors | VmHWM | VmRSS | files, bytes/record | stored in | other cores |\n")
	b.WriteString("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, p := range records {
		c := p.cells()
		perRec := "—"
		if p.err == nil && p.records > 0 {
			perRec = fmt.Sprintf("%.0f", perRecord(p.files, p.records))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", groupDigits(p.x), c.meterd, c.baseline, c.ratio, c.p99, c.errors, c.hwm, c.rss, perRec, fmtSetup(p.setup), c.other)
	}
	b.WriteString("\nFiles, bytes/record: every file of meterd's after the child stopped (database, WAL, and any other file named after it), over the records stored then, the run's included.\n")
	var notes []string
	for _, p := range append(slices.Clone(customers), records...) {
		if p.err != nil {
			notes = append(notes, fmt.Sprintf("- %s: %s", groupDigits(p.x), oneLine(p.err.Error())))
		}
		for _, r := range []benchRun{p.baseline, p.meterd} {
			for code, msg := range r.res.ErrorSamples {
				notes = append(notes, fmt.Sprintf("- %s, %s: %s (first of %d): %s", groupDigits(p.x), r.target, code, r.res.Errors[code], oneLine(msg)))
			}
		}
	}
	slices.Sort(notes)
	if len(notes) > 0 {
		fmt.Fprintf(&b, "\n%s\n", strings.Join(notes, "\n"))
	}
	fmt.Fprintf(&b, "%s\n", scalingEnd)
	return b.String()
}

type pointCells struct{ meterd, baseline, ratio, p99, errors, hwm, rss, other string }

func (p scalingPoint) cells() pointCells {
	if p.err != nil {
		return pointCells{"—", "—", "—", "—", "—", "—", "—", "—"}
	}
	m, base := p.meterd.res, p.baseline.res
	c := pointCells{
		meterd:   fmt.Sprintf("%.0f", m.RecordsPerSecond()),
		baseline: fmt.Sprintf("%.0f", base.RecordsPerSecond()),
		ratio:    ratioCell(m, base, 0),
		p99:      fmtDuration(m.Latency.Percentile(99)),
		errors:   errorsCell(m),
		hwm:      fmtMB(p.mem.hwm),
		rss:      fmtMB(p.mem.rss),
	}
	if p.meterd.machineCPU >= 0 && m.Elapsed > 0 {
		c.other = fmt.Sprintf("%.2f", max(p.meterd.machineCPU-m.CPU, 0).Seconds()/m.Elapsed.Seconds())
	}
	return c
}

// scalingPlot draws meterd's records/s on both curves.
func scalingPlot(customers, records []scalingPoint) []byte {
	panel := func(title, xTitle string, logX bool, ps []scalingPoint) plotPanel {
		p := plotPanel{title: title, xTitle: xTitle, yTitle: "meterd records/s", logX: logX}
		for _, pt := range ps {
			if logX && pt.x <= 0 {
				continue
			}
			y := math.NaN()
			if pt.err == nil {
				y = pt.meterd.res.RecordsPerSecond()
			}
			p.xs, p.xLabels, p.ys = append(p.xs, float64(pt.x)), append(p.xLabels, shortNumber(float64(pt.x))), append(p.ys, y)
		}
		return p
	}
	panels := []plotPanel{
		panel("against distinct customers", "customers (log scale)", true, customers),
		panel("against records stored", "records stored before the run", false, records),
	}
	// One y scale for both, so that their heights compare.
	top := 0.0
	for _, p := range panels {
		for _, y := range p.ys {
			if !math.IsNaN(y) {
				top = max(top, y)
			}
		}
	}
	for i := range panels {
		panels[i].yMax = top
	}
	return plotSVG("meterd BatchMeterUsage throughput (flat is the goal)", panels)
}

func fmtSetup(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return fmtDuration(d)
}

// groupDigits writes n with commas between thousands: 1,000,000.
func groupDigits(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
