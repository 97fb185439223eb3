package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/app"
	"github.com/meterd/meterd/internal/loadgen"
	"github.com/meterd/meterd/internal/metering"
)

// fakeRun is a run of d that answered records records in requests of 25,
// every one in latency.
func fakeRun(target string, records int64, d, latency time.Duration) benchRun {
	h := loadgen.NewHistogram()
	for range records / 25 {
		h.Record(latency)
	}
	return benchRun{target: target, op: loadgen.OpBatch, machineCPU: 3 * d, res: loadgen.Result{
		Operation: loadgen.OpBatch, Requests: records / 25, OK: records / 25, Records: records, Succeeded: records,
		Elapsed: d, CPU: 2 * d, Latency: h, Errors: map[string]int64{}, ErrorSamples: map[string]string{},
	}}
}

func fakePoint(x, meterd, baseline int64) scalingPoint {
	return scalingPoint{
		x: x, baseline: fakeRun("baseline", baseline, time.Second, time.Millisecond), meterd: fakeRun("meterd", meterd, time.Second, 20*time.Millisecond),
		mem: procMemory{rss: 60e6, hwm: 70e6}, files: 150 * (x + meterd), records: x + meterd, setup: 2 * time.Second,
	}
}

func TestScalingSection(t *testing.T) {
	o := benchOptions{records: 25, concurrency: 32, duration: 5 * time.Second, warmup: time.Second,
		fixture: loadgen.Fixture{Customers: 1000, Dimensions: 32}}
	m := machine{cpus: 2, maxprocs: 2, goVersion: "go1.26.8 linux/amd64", commit: "abc", loadBefore: "0.1 0.2 0.3", loadAfter: "1 2 3",
		start: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)}
	failed := scalingPoint{x: 1000000, err: errors.New("meterd serve exited\nbadly")}
	customers := []scalingPoint{fakePoint(1000, 20000, 500000), failed}
	records := []scalingPoint{fakePoint(0, 20000, 500000), fakePoint(10000000, 10000, 400000)}
	s := scalingSection(m, o, "meterd bench -scaling", customers, records, "docs/bench-scaling.svg")
	for _, want := range []string{
		scalingBegin + "\n", scalingEnd + "\n",
		"![BatchMeterUsage records/s of meterd against distinct customers and against records stored](docs/bench-scaling.svg)",
		"| 1,000 | 20000 | 500000 | 0.04 | 20.0ms | 0 | 70.0 MB | 60.0 MB | 2.00s | 1.00 |",
		"| 1,000,000 | — | — | — | — | — | — | — | — | — |",
		"| 0 | 20000 | 500000 | 0.04 | 20.0ms | 0 | 70.0 MB | 60.0 MB | 150 | 2.00s | 1.00 |",
		"| 10,000,000 | 10000 | 400000 | 0.03 | 20.0ms | 0 | 70.0 MB | 60.0 MB | 150 | 2.00s | 1.00 |",
		"- 1,000,000: meterd serve exited badly",
		"0.1 0.2 0.3 before, 1 2 3 after",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in\n%s", want, s)
		}
	}
	if !strings.HasPrefix(s, scalingBegin) || !strings.HasSuffix(s, scalingEnd+"\n") {
		t.Errorf("the section does not run from marker to marker:\n%s", s)
	}
	if s != scalingSection(m, o, "meterd bench -scaling", customers, records, "docs/bench-scaling.svg") {
		t.Error("the same figures made a different section")
	}
	svg := string(scalingPlot(customers, records))
	if strings.Count(svg, "<circle") != 3 || !strings.Contains(svg, ">10M<") || !strings.Contains(svg, ">1k<") {
		t.Errorf("the plot should have 3 points (the failed one left out) and label 1k and 10M:\n%s", svg)
	}
}

// TestReplaceMarkedKeepsTheOtherSection checks that -scaling -write and
// -write each replace their own section only.
func TestReplaceMarkedKeepsTheOtherSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	doc := "# B\n\n" + benchBegin + "\nresults\n" + benchEnd + "\n\nprose\n\n" + scalingBegin + "\n" + scalingEnd + "\n\nmore prose\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replaceMarked(path, scalingBegin, scalingEnd, scalingBegin+"\ncurves\n"+scalingEnd+"\n"); err != nil {
		t.Fatal(err)
	}
	if err := replaceSection(path, benchBegin+"\nnew results\n"+benchEnd+"\n"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# B\n\n" + benchBegin + "\nnew results\n" + benchEnd + "\n\nprose\n\n" + scalingBegin + "\ncurves\n" + scalingEnd + "\n\nmore prose\n"
	if string(b) != want {
		t.Errorf("got\n%s\nwant\n%s", b, want)
	}
	if err := os.WriteFile(path, []byte(scalingEnd+"\n"+scalingBegin+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := replaceMarked(path, scalingBegin, scalingEnd, "x"); err == nil {
		t.Error("markers out of order: no error")
	}
}

func TestGroupDigitsAndParseCounts(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1000000: "1,000,000", 10000000: "10,000,000", -1234: "-1,234"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
	got, err := parseCounts("-scaling-records", "0, 1000000,3000000", 0)
	if err != nil || !slices.Equal(got, []int64{0, 1000000, 3000000}) {
		t.Errorf("parseCounts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1,,2", "x", "-1"} {
		if _, err := parseCounts("-f", bad, 0); err == nil {
			t.Errorf("parseCounts(%q) took it", bad)
		}
	}
	if _, err := parseCounts("-replicas", "0", 1); err == nil {
		t.Error("parseCounts took 0 where the least is 1")
	}
}

func TestBuildStartLeavesTheLoadWindowFree(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC)
	f := loadgen.Fixture{Customers: 1000, Dimensions: 32}
	start := buildStart(now, f, 10_000_000)
	b := &builder{f: f, start: start}
	last := b.hour(10_000_000 - 1)
	if !last.Before(now.Add(-24 * time.Hour)) {
		t.Errorf("the last stored record's hour %s is inside the load's 24 hours before %s", last, now)
	}
	if start.Minute() != 0 || start.Second() != 0 {
		t.Errorf("start %s is not on the hour", start)
	}
	if got := b.hour(32000); !got.Equal(start.Add(time.Hour)) {
		t.Errorf("record 32000 (1000 × 32 an hour) is in hour %s, want %s", got, start.Add(time.Hour))
	}
}

// TestBuilderStoresRecordsHourByHour grows a database in two steps and
// checks what the store then holds: every record, in whole hours from the
// start, none in the 24 hours the load generator writes.
func TestBuilderStoresRecordsHourByHour(t *testing.T) {
	ctx := t.Context()
	f := loadgen.Fixture{Customers: 10, Dimensions: 3, Workloads: 1}
	now := time.Now()
	path := filepath.Join(t.TempDir(), "meterd.db")
	b, err := newBuilder(ctx, path, f, buildStart(now, f, 95))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.grow(ctx, 40, nil); err != nil {
		t.Fatal(err)
	}
	if err := b.grow(ctx, 95, nil); err != nil {
		t.Fatal(err)
	}
	store, err := app.OpenStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rows, err := store.UsageSummary(ctx, metering.UsageFilter{ProductCode: loadgen.SaaSProduct})
	if err != nil {
		t.Fatal(err)
	}
	var records int64
	hours := map[time.Time]int64{}
	for _, r := range rows {
		records += r.Records
		hours[r.Hour] += r.Records
	}
	if records != 95 || b.stored != 95 {
		t.Errorf("stored %d records (builder says %d), want 95", records, b.stored)
	}
	// 30 records an hour (10 customers × 3 dimensions): 30, 30, 30, 5.
	want := map[time.Time]int64{b.start: 30, b.start.Add(time.Hour): 30, b.start.Add(2 * time.Hour): 30, b.start.Add(3 * time.Hour): 5}
	if !reflect.DeepEqual(hours, want) {
		t.Errorf("records by hour %v, want %v", hours, want)
	}
	for h := range hours {
		if !h.Before(now.Add(-24 * time.Hour)) {
			t.Errorf("records in hour %s, within the load's 24 hours", h)
		}
	}
}
