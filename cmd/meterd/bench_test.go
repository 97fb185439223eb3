package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBench runs a very short bench: the baseline and meterd on SQLite, and
// meterd on PostgreSQL with one and two replicas when the PostgreSQL server
// binaries are there (or METERD_TEST_POSTGRES=1 requires them), and checks
// that the rows and the -write section come out.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and sends load")
	}
	md := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	if err := os.WriteFile(md, []byte("# Benchmarks\n\nkept\n\n<!-- bench:begin -->\nold\n<!-- bench:end -->\n\nkept too\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"bench", "-op", "meter", "-duration", "300ms", "-warmup", "0", "-latency-rate", "0", "-concurrency", "4", "-write", md}
	pg := os.Getenv("METERD_TEST_POSTGRES") == "1"
	if _, err := exec.LookPath("initdb"); err == nil {
		pg = true
	}
	if pg {
		args = append(args, "-postgres", "auto", "-replicas", "1,2")
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench exited %d:\n%s", code, stderr.String())
	}
	want := []string{"| baseline | MeterUsage |", "| meterd | MeterUsage |"}
	if pg {
		want = append(want, "| meterd-pg×1 | MeterUsage |", "| meterd-pg×2 | MeterUsage |")
	}
	for _, w := range want {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("no %q row in\n%s", w, stdout.String())
		}
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(b); !strings.Contains(s, "kept\n") || !strings.Contains(s, "kept too\n") || strings.Contains(s, "\nold\n") || !strings.Contains(s, want[1]) {
		t.Errorf("-write left:\n%s", s)
	}
}

// TestBenchProfiles checks that -cpuprofile and -trace write a file for the
// run against meterd, named after the operation, and none for the baseline.
func TestBenchProfiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers and sends load")
	}
	dir := t.TempDir()
	args := []string{"bench", "-op", "meter", "-duration", "200ms", "-warmup", "0", "-latency-rate", "0", "-concurrency", "2",
		"-moto", "off", "-cpuprofile", filepath.Join(dir, "cpu.pprof"), "-trace", filepath.Join(dir, "trace.out")}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("bench exited %d:\n%s", code, stderr.String())
	}
	for _, name := range []string{"cpu-meter.pprof", "trace-meter.out"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Size() == 0 {
			t.Errorf("%s: %v, %d bytes", name, err, st.Size())
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("%d files written, want 2", len(entries))
	}
}
