package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchChildModes runs -rss-records and -scaling very briefly: both
// build a database, start `meterd serve` as a child (built with go build,
// since the test binary is not meterd) and read its memory.
func TestBenchChildModes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds meterd, starts children and sends load")
	}
	short := []string{"-duration", "200ms", "-warmup", "0", "-latency-rate", "0", "-concurrency", "4", "-customers", "20", "-dimensions", "2"}
	var stdout, stderr bytes.Buffer
	args := append([]string{"bench", "-rss-records", "500"}, short...)
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench -rss-records exited %d:\n%s", code, stderr.String())
	}
	for _, want := range []string{"| after start | 500 |", "| meterd | BatchMeterUsage ×25 |", "| meterd | MeterUsage |", "Files after storing: meterd.db", "bytes a record"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("no %q in\n%s", want, stdout.String())
		}
	}

	md := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := os.WriteFile(md, []byte("kept\n"+scalingBegin+"\nold\n"+scalingEnd+"\nkept too\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	args = append([]string{"bench", "-scaling", "-scaling-customers", "10,30", "-scaling-records", "0,300", "-write", md}, short...)
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench -scaling exited %d:\n%s", code, stderr.String())
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"kept\n", "kept too\n", "| 10 | ", "| 30 | ", "| 0 | ", "| 300 | ", "(docs/bench-scaling.svg)"} {
		if !strings.Contains(s, want) {
			t.Errorf("no %q in\n%s", want, s)
		}
	}
	if strings.Contains(s, "\nold\n") || strings.Contains(s, "| — | — |") {
		t.Errorf("old section kept, or a point failed:\n%s\n%s", s, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(md), "docs", "bench-scaling.svg")); err != nil {
		t.Error(err)
	}
}
