package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/loadgen"
)

// benchRSS is -rss-records: the memory and storage of meterd holding many
// records. It stores the records (builder), starts `meterd serve` on them
// as a child process, so that /proc shows meterd's memory alone, sends the
// usual runs to it and reports the child's resident set and the bytes per
// record of every file it keeps.
func benchRSS(ctx context.Context, o *benchOptions, command string, stdout, stderr io.Writer) error {
	env := machineContext(ctx)
	dir, err := os.MkdirTemp("", "meterd-bench-rss-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := meterdBinary(ctx, dir)
	if err != nil {
		return err
	}
	database := filepath.Join(dir, "data", "meterd.db")
	if err := os.Mkdir(filepath.Dir(database), 0o700); err != nil {
		return err
	}

	n := o.rssRecords
	start := buildStart(env.start, o.fixture, n)
	fmt.Fprintf(stderr, "bench: storing %d records (%d customers × %d dimensions an hour, from %s)\n",
		n, o.fixture.Customers, o.fixture.Dimensions, start.Format(time.RFC3339))
	b, err := newBuilder(ctx, database, o.fixture, start)
	if err != nil {
		return err
	}
	if err := b.grow(ctx, n, stderr); err != nil {
		return err
	}
	built, err := dataFiles(database)
	if err != nil {
		return err
	}

	fmt.Fprintln(stderr, "bench: starting meterd serve on them")
	t0 := time.Now()
	c, err := startChild(ctx, bin, database)
	if err != nil {
		return err
	}
	defer c.stop()
	startup := time.Since(t0)
	memStart, err := c.memory()
	if err != nil {
		return err
	}
	t := benchTarget{name: "meterd", endpoint: c.endpoint, cpu: c.cpu, offsets: map[loadgen.Operation]int64{}}
	var runs []benchRun
	for _, op := range o.ops {
		for _, rate := range o.rates(op) {
			r, err := o.run(ctx, stderr, &t, op, rate)
			if err != nil {
				return err
			}
			runs = append(runs, r)
		}
	}
	memEnd, err := c.memory()
	if err != nil {
		return err
	}
	if err := c.stop(); err != nil {
		return err
	}
	env.loadAfter = loadavg()
	after, err := dataFiles(database)
	if err != nil {
		return err
	}
	live := min(t.succeeded[loadgen.OpBatch], batchKeys(o.fixture, env.start)) + t.succeeded[loadgen.OpMeter]

	var s strings.Builder
	fmt.Fprintf(&s, "`%s`, %s.\n\n", strings.TrimSpace(command), env.start.Format("2006-01-02 15:04 MST"))
	machineLines(&s, env)
	fmt.Fprintf(&s, "- Stored first: %d BatchMeterUsage records, %d customers × %d dimensions an hour over %d hours from %s, in %s (%.0f records/s, state included). They went through metering.Service into the SQLite store app opens (default durability), 128 concurrent 25-record calls, so they are stored as a running meterd stores them, rollups and indexes included; the audit log of those calls is not built.\n",
		n, o.fixture.Customers, o.fixture.Dimensions, (n+b.perHour()-1)/b.perHour(), start.Format("2006-01-02 15:04 MST"), b.time.Round(time.Second), float64(n)/b.time.Seconds())
	fmt.Fprintf(&s, "- Then `meterd %s` as a child process (this binary), listening after %s; the runs below went to it from this process, %d concurrent requests, %s each after a %s warm-up. CPU/req and busy cores add the child's CPU (/proc/<pid>/stat) to the generator's.\n",
		strings.Join(serveArgs("meterd.db"), " "), startup.Round(time.Millisecond), o.concurrency, o.duration, o.warmup)
	s.WriteString("\n| meterd serve (child) | records stored | VmRSS | VmHWM (peak) |\n|---|--:|--:|--:|\n")
	fmt.Fprintf(&s, "| after start | %d | %s | %s |\n", n, fmtMB(memStart.rss), fmtMB(memStart.hwm))
	fmt.Fprintf(&s, "| after the runs | %d | %s | %s |\n\n", n+live, fmtMB(memEnd.rss), fmtMB(memEnd.hwm))
	writeRunsTable(&s, env, *o, runs)
	s.WriteString("\n")
	writeFiles(&s, "Files after storing", built, n)
	writeFiles(&s, "Files after the runs and a SIGTERM (meterd checkpoints and closes)", after, n+live)
	fmt.Fprint(stdout, s.String())
	return nil
}

// writeFiles writes a bullet with the files, their total and the total's
// bytes per record.
func writeFiles(b *strings.Builder, title string, files map[string]int64, records int64) {
	var total int64
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		total += files[name]
		parts = append(parts, fmt.Sprintf("%s %s", name, fmtMB(files[name])))
	}
	fmt.Fprintf(b, "- %s: %s; total %s for %d records, **%.1f bytes a record**.\n", title, strings.Join(parts, ", "), fmtMB(total), records, perRecord(total, records))
}

func perRecord(bytes, records int64) float64 {
	if records <= 0 {
		return 0
	}
	return float64(bytes) / float64(records)
}

// fmtMB writes n bytes in MB (10^6), one decimal.
func fmtMB(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
