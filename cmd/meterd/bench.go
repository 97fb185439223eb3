package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/app"
	"github.com/meterd/meterd/internal/httpserver"
	"github.com/meterd/meterd/internal/loadgen"
	"github.com/meterd/meterd/internal/pgtest"
)

// Markers of the generated section of BENCHMARKS.md.
const (
	benchBegin = "<!-- bench:begin -->"
	benchEnd   = "<!-- bench:end -->"
)

type benchOptions struct {
	ops         []loadgen.Operation
	duration    time.Duration
	warmup      time.Duration
	concurrency int
	records     int
	rate        float64
	latencyRate float64
	dup         float64
	fixture     loadgen.Fixture
	write       string
	cpuprofile  string
	trace       string
	// postgres is "", "auto" (a throwaway cluster) or a DSN; replicas are
	// the replica counts to run meterd on PostgreSQL with.
	postgres string
	replicas []int64
	// prefill is the number of BatchMeterUsage records each meterd stores,
	// unmeasured, before its first measured run.
	prefill int64
	// moto is where the moto row's server comes from; motoVersion is
	// what the moto started here said its version was.
	moto        motoMode
	motoVersion string
	// rssRecords, when positive, selects the memory run (bench_rss.go).
	rssRecords int64
	// scaling selects the scaling curves (bench_scaling.go), over these
	// customer counts and stored-record counts; plot is the SVG file they
	// are drawn into, relative to the -write file.
	scaling          bool
	scalingCustomers []int64
	scalingRecords   []int64
	plot             string
}

// bench runs the load generator against the decode-only baseline and
// against a real meterd, both started in this process on 127.0.0.1, and
// against moto's server when it is installed (BatchMeterUsage only), with
// identical generator settings, and prints one table of them all.
// -rss-records and -scaling run instead what bench_rss.go and
// bench_scaling.go describe.
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	var o benchOptions
	op := fs.String("op", "all", "operations: batch (BatchMeterUsage), meter (MeterUsage) or all")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured run before each measured one (connections, caches); 0 for none")
	fs.IntVar(&o.concurrency, "concurrency", loadgen.DefaultConcurrency, "concurrent requests (workers)")
	fs.IntVar(&o.records, "records", loadgen.DefaultRecordsPerRequest, "records per BatchMeterUsage request")
	fs.Float64Var(&o.rate, "rate", 0, "fixed request rate per second for the main runs; 0 sends as fast as the workers go")
	fs.Float64Var(&o.latencyRate, "latency-rate", 5000, "rate of an extra fixed-rate MeterUsage run for latency; 0 skips it")
	fs.Float64Var(&o.dup, "dup", 0, "fraction of requests that repeat an earlier request exactly")
	fs.IntVar(&o.fixture.Customers, "customers", loadgen.DefaultCustomers, "SaaS customers (legacy CustomerIdentifier) in the generated state")
	fs.IntVar(&o.fixture.Dimensions, "dimensions", loadgen.DefaultDimensions, "dimensions per product")
	fs.IntVar(&o.fixture.Workloads, "workloads", loadgen.DefaultWorkloads, "AgentCore workloads metering with MeterUsage (a new record per ClientToken)")
	fs.IntVar(&o.fixture.EC2Workloads, "ec2-workloads", 0, "EC2 workloads metering with MeterUsage (one record per dimension and hour)")
	fs.StringVar(&o.write, "write", "", "replace the generated section of this Markdown file (BENCHMARKS.md) with the results")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of each measured run against meterd to FILE with the operation in its name")
	fs.StringVar(&o.trace, "trace", "", "write an execution trace of each measured run against meterd to FILE with the operation in its name")
	fs.StringVar(&o.postgres, "postgres", "", `also run meterd on PostgreSQL: "auto" starts a throwaway cluster (internal/pgtest), anything else is the DSN of a database to use`)
	replicas := fs.String("replicas", "1,2", "with -postgres: how many meterd replicas share the database, one run per number")
	fs.Int64Var(&o.prefill, "prefill", 0, "BatchMeterUsage records each meterd stores, unmeasured, before its first measured run")
	moto := fs.String("moto", "auto", `also run BatchMeterUsage against moto: "auto" starts moto_server (skipped when it is not installed), "off", or the URL of a running moto server`)
	fs.Int64Var(&o.rssRecords, "rss-records", 0, "instead of the usual runs: store N records, start meterd serve on them as a child process, send load and report its memory (VmHWM, VmRSS) and bytes per record")
	fs.BoolVar(&o.scaling, "scaling", false, "instead of the usual runs: BatchMeterUsage throughput of meterd serve (a child process) against distinct customers and against stored records, as a table and an SVG plot")
	scalingCustomers := fs.String("scaling-customers", "1000,10000,100000,1000000", "with -scaling: customer counts of the customers curve")
	scalingRecords := fs.String("scaling-records", "0,1000000,3000000,10000000", "with -scaling: stored-record counts of the records curve")
	fs.StringVar(&o.plot, "plot", "docs/bench-scaling.svg", "with -scaling and -write: the SVG file of the curves, relative to the -write file's directory")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if o.replicas, err = parseCounts("-replicas", *replicas, 1); err != nil {
		return err
	}
	if o.scalingCustomers, err = parseCounts("-scaling-customers", *scalingCustomers, 1); err != nil {
		return err
	}
	if o.scalingRecords, err = parseCounts("-scaling-records", *scalingRecords, 0); err != nil {
		return err
	}
	if o.moto, err = parseMotoFlag(*moto); err != nil {
		return err
	}
	switch *op {
	case "batch":
		o.ops = []loadgen.Operation{loadgen.OpBatch}
	case "meter":
		o.ops = []loadgen.Operation{loadgen.OpMeter}
	case "all":
		o.ops = []loadgen.Operation{loadgen.OpBatch, loadgen.OpMeter}
	default:
		return fmt.Errorf("-op %q: want batch, meter or all", *op)
	}
	if o.duration <= 0 || o.warmup < 0 || o.concurrency <= 0 || o.records <= 0 || o.rate < 0 || o.latencyRate < 0 {
		return errors.New("-duration, -concurrency and -records must be positive, -warmup, -rate and -latency-rate not negative")
	}
	if o.fixture.Customers <= 0 || o.fixture.Dimensions <= 0 || o.fixture.Workloads < 0 || o.fixture.EC2Workloads < 0 ||
		o.fixture.Workloads+o.fixture.EC2Workloads == 0 {
		return errors.New("-customers and -dimensions must be positive, and there must be at least one workload")
	}
	if o.rssRecords < 0 || (o.rssRecords > 0 && o.scaling) {
		return errors.New("-rss-records must not be negative, and not given with -scaling")
	}
	command := "meterd bench " + strings.Join(args, " ")
	switch {
	case o.rssRecords > 0:
		return benchRSS(ctx, &o, command, stdout, stderr)
	case o.scaling:
		return benchScaling(ctx, &o, command, stdout, stderr)
	}

	env := machineContext(ctx)
	dir, err := os.MkdirTemp("", "meterd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	state, err := writeBaseState(dir, o.fixture)
	if err != nil {
		return err
	}

	fmt.Fprintln(stderr, "bench: starting meterd and the decode-only baseline")
	meterd, err := openMeterd(ctx, app.Config{
		Listen:    "127.0.0.1:0",
		Database:  filepath.Join(dir, "meterd.db"),
		StateFile: state,
	}, o.fixture, true)
	if err != nil {
		return fmt.Errorf("start meterd: %w", err)
	}
	defer meterd.Close()
	// The baseline sits behind the same HTTP server (timeouts, panic
	// recovery) as meterd, so the two differ only in the handler.
	logger := slog.New(slog.DiscardHandler)
	baseline, err := httpserver.Listen("127.0.0.1:0", httpserver.Routes{DataPlane: loadgen.DecodeOnlyHandler()}, logger)
	if err != nil {
		return fmt.Errorf("start baseline: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		baseline.Close(ctx)
	}()

	targets := []benchTarget{
		{name: "baseline", endpoint: "http://" + baseline.Addr(), offsets: map[loadgen.Operation]int64{}},
		{name: "meterd", endpoint: meterd.Endpoint(), offsets: map[loadgen.Operation]int64{}},
	}
	if slices.Contains(o.ops, loadgen.OpBatch) {
		if t, stop, err := o.startMoto(ctx, stderr, dir); err != nil {
			return err
		} else if stop != nil {
			defer stop()
			targets = append(targets, t)
		}
	}
	var runs []benchRun
	runAll := func(targets []benchTarget) error {
		for _, op := range o.ops {
			for _, rate := range o.rates(op) {
				for i := range targets {
					if targets[i].only != "" && targets[i].only != op {
						continue
					}
					r, err := o.run(ctx, stderr, &targets[i], op, rate)
					if err != nil {
						return err
					}
					runs = append(runs, r)
				}
			}
		}
		return nil
	}
	if err := runAll(targets); err != nil {
		return err
	}
	// PostgreSQL runs last, started for its rows and stopped after them:
	// its server goes on writing what a run stored (WAL, checkpoints,
	// autovacuum) for seconds after the run, on the disk meterd's log is
	// fsynced to, and a SQLite run after it measured that (MeterUsage p99
	// at 5,000/s 37 ms after the PostgreSQL rows, 10-14 ms without them).
	if o.postgres != "" {
		pg, closePG, err := o.startPostgres(ctx, stderr, state)
		if err != nil {
			return err
		}
		err = runAll(pg)
		closePG()
		if err != nil {
			return err
		}
	}
	// The report groups rows by operation and rate, the baseline first.
	order := func(r benchRun) (int, int) {
		op := slices.Index(o.ops, r.op)
		return op, slices.Index(o.rates(r.op), r.rate)
	}
	slices.SortStableFunc(runs, func(a, b benchRun) int {
		ao, ar := order(a)
		bo, br := order(b)
		return cmp.Or(cmp.Compare(ao, bo), cmp.Compare(ar, br))
	})
	env.loadAfter = loadavg()
	if err := meterd.Close(); err == nil {
		// Every file named after the database: an audit database beside
		// it counts too.
		if files, err := dataFiles(filepath.Join(dir, "meterd.db")); err == nil {
			env.sqliteFiles = files
			for _, n := range files {
				env.sqliteBytes += n
			}
		}
		// Batch records past the fixture's distinct ones were repeats.
		s := targets[1].succeeded
		env.sqliteRecords = min(s[loadgen.OpBatch], batchKeys(o.fixture, env.start)) + s[loadgen.OpMeter]
	}

	section := report(env, o, command, runs)
	fmt.Fprint(stdout, section)
	if o.write != "" {
		if err := replaceSection(o.write, section); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "bench: wrote the results to %s\n", o.write)
	}
	return nil
}

// rates are the request rates op runs at: the main run's, then the extra
// fixed-rate latency run for MeterUsage.
func (o *benchOptions) rates(op loadgen.Operation) []float64 {
	rates := []float64{o.rate}
	if op == loadgen.OpMeter && o.latencyRate > 0 && o.latencyRate != o.rate {
		rates = append(rates, o.latencyRate)
	}
	return rates
}

type benchTarget struct {
	name     string
	endpoint string
	// only, when set, is the one operation the target is run with.
	only loadgen.Operation
	// cpu, when set, is the CPU time of the target's own process (a
	// child): runs add it to the generator's.
	cpu func() time.Duration
	// more are further replicas the generator spreads requests over.
	more []string
	// prefilled is set once the target has stored -prefill records.
	prefilled bool
	// succeeded counts, by operation, the records answered Success by
	// all runs, warm-ups and prefill included.
	succeeded map[loadgen.Operation]int64
	// offsets continue each operation's record sequence from run to run,
	// so that no run repeats the records of an earlier one.
	offsets map[loadgen.Operation]int64
}

type benchRun struct {
	target string
	op     loadgen.Operation
	rate   float64
	res    loadgen.Result
	// first and end are the run's slot numbers: [first, end).
	first, end int64
	// machineCPU is the CPU time all processes used during the run, from
	// /proc/stat; negative when unknown.
	machineCPU time.Duration
}

func (o *benchOptions) run(ctx context.Context, stderr io.Writer, t *benchTarget, op loadgen.Operation, rate float64) (benchRun, error) {
	if o.prefill > 0 && t.name != "baseline" && !t.prefilled {
		if err := o.fill(ctx, stderr, t); err != nil {
			return benchRun{}, err
		}
	}
	cfg := o.fixture.Config(op)
	cfg.Endpoint, cfg.MoreEndpoints = t.endpoint, t.more
	cfg.Concurrency = o.concurrency
	cfg.RecordsPerRequest = o.records
	cfg.Rate = rate
	cfg.DuplicateRatio = o.dup
	cfg.Seed = 1
	transport := loadgen.NewTransport(o.concurrency)
	defer transport.CloseIdleConnections()
	cfg.Transport = transport // the warm-up's connections serve the run

	if o.warmup > 0 {
		cfg.Duration = o.warmup
		cfg.Offset = t.offsets[op]
		res, err := loadgen.Run(ctx, cfg)
		if err != nil {
			return benchRun{}, err
		}
		t.offsets[op] += res.Requests
		t.count(op, res)
	}
	fmt.Fprintf(stderr, "bench: %s %s%s for %s\n", t.name, op, rateLabel(rate), o.duration)
	// profileName is file with the run's target and operation in its name.
	profileName := func(file string) string {
		ext := filepath.Ext(file)
		if t.name != "meterd" {
			return strings.TrimSuffix(file, ext) + "-" + strings.TrimPrefix(strings.ReplaceAll(t.name, "×", "x"), "meterd-") + "-" + string(op) + rateLabel(rate) + ext
		}
		return strings.TrimSuffix(file, ext) + "-" + string(op) + rateLabel(rate) + ext
	}
	// An execution trace shows what the CPU profile cannot: where the
	// committer and the handlers wait (go tool trace -pprof=sched, sync,
	// syscall).
	for _, p := range []struct {
		file  string
		start func(io.Writer) error
		stop  func()
	}{{o.cpuprofile, pprof.StartCPUProfile, pprof.StopCPUProfile}, {o.trace, trace.Start, trace.Stop}} {
		if p.file == "" || t.name == "baseline" {
			continue
		}
		f, err := os.Create(profileName(p.file))
		if err != nil {
			return benchRun{}, err
		}
		defer f.Close()
		if err := p.start(f); err != nil {
			return benchRun{}, err
		}
		defer p.stop()
	}
	cfg.Duration = o.duration
	cfg.Offset = t.offsets[op]
	busy0 := machineBusy()
	cpu0 := time.Duration(-1)
	if t.cpu != nil {
		cpu0 = t.cpu()
	}
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return benchRun{}, err
	}
	if cpu0 >= 0 {
		if cpu1 := t.cpu(); cpu1 >= 0 {
			res.CPU += cpu1 - cpu0
		}
	}
	machineCPU := time.Duration(-1)
	if busy0 >= 0 {
		if busy1 := machineBusy(); busy1 >= 0 {
			machineCPU = busy1 - busy0
		}
	}
	first := t.offsets[op]
	t.offsets[op] += res.Requests
	t.count(op, res)
	if err := ctx.Err(); err != nil {
		return benchRun{}, err
	}
	return benchRun{target: t.name, op: op, rate: rate, res: res, first: first, end: t.offsets[op], machineCPU: machineCPU}, nil
}

// fill stores -prefill BatchMeterUsage records in t, unmeasured, from where
// its record sequence stands.
func (o *benchOptions) fill(ctx context.Context, stderr io.Writer, t *benchTarget) error {
	t.prefilled = true
	fmt.Fprintf(stderr, "bench: %s: storing %d records first\n", t.name, o.prefill)
	cfg := o.fixture.Config(loadgen.OpBatch)
	cfg.Endpoint, cfg.MoreEndpoints = t.endpoint, t.more
	cfg.Concurrency = o.concurrency
	cfg.RecordsPerRequest = o.records
	cfg.Requests = (o.prefill + int64(o.records) - 1) / int64(o.records)
	cfg.Seed = 1
	cfg.Offset = t.offsets[loadgen.OpBatch]
	res, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return err
	}
	t.offsets[loadgen.OpBatch] += res.Requests
	t.count(loadgen.OpBatch, res)
	if n := res.ErrorCount(); n > 0 {
		return fmt.Errorf("%s: %d of %d prefill requests failed: %v", t.name, n, res.Requests, res.Errors)
	}
	return nil
}

// startPostgres starts, for each -replicas count, that many meterd on one
// PostgreSQL database, a fresh one for each count on a throwaway cluster
// (-postgres auto). On a given database the counts share it and continue
// each other's record sequences, so that no run repeats another's records.
func (o *benchOptions) startPostgres(ctx context.Context, stderr io.Writer, state string) (targets []benchTarget, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	dsn := func() (string, error) { return o.postgres, nil }
	if o.postgres == "auto" {
		fmt.Fprintln(stderr, "bench: starting a throwaway PostgreSQL cluster")
		cluster, err := pgtest.StartServer()
		if err != nil {
			return nil, nil, fmt.Errorf("start PostgreSQL: %w", err)
		}
		closers = append(closers, func() { cluster.Close() })
		dsn = func() (string, error) {
			name, err := cluster.CreateDatabase()
			return cluster.DSN(name), err
		}
	}
	shared := map[loadgen.Operation]int64{}
	for _, n := range o.replicas {
		db, err := dsn()
		if err != nil {
			return nil, nil, err
		}
		t := benchTarget{name: fmt.Sprintf("meterd-pg×%d", n), offsets: shared}
		if o.postgres == "auto" {
			t.offsets = map[loadgen.Operation]int64{}
		}
		for i := range n {
			// The first replica adds the customers; the others find them.
			a, err := openMeterd(ctx, app.Config{Listen: "127.0.0.1:0", Database: db, StateFile: state}, o.fixture, i == 0)
			if err != nil {
				return nil, nil, fmt.Errorf("start meterd on PostgreSQL (replica %d of %d): %w", i+1, n, err)
			}
			closers = append(closers, func() { a.Close() })
			if i == 0 {
				t.endpoint = a.Endpoint()
			} else {
				t.more = append(t.more, a.Endpoint())
			}
		}
		targets = append(targets, t)
	}
	return targets, closeAll, nil
}

// startMoto starts or checks the moto server of -moto and returns its
// target, which runs BatchMeterUsage only (moto's meteringmarketplace
// implements nothing else the generator sends). stop is nil when there is
// no moto row: -moto off, or auto without moto_server installed.
func (o *benchOptions) startMoto(ctx context.Context, stderr io.Writer, dir string) (t benchTarget, stop func(), err error) {
	t = benchTarget{name: "moto", only: loadgen.OpBatch, offsets: map[loadgen.Operation]int64{}}
	switch {
	case o.moto.off():
		return t, nil, nil
	case o.moto.url != "":
		t.endpoint = o.moto.url
		if err := checkMoto(ctx, o, t.endpoint); err != nil {
			// Its customers are someone else's to set up: the row's
			// notes will count the records not answered Success.
			fmt.Fprintf(stderr, "bench: warning: %v\n", err)
		}
		return t, func() {}, nil
	}
	fmt.Fprintln(stderr, "bench: starting moto_server")
	m, err := startMoto(ctx, dir, o.fixture)
	if errors.Is(err, errNoMoto) {
		fmt.Fprintf(stderr, "bench: no moto row: %v\n", err)
		return t, nil, nil
	}
	if err != nil {
		return t, nil, err
	}
	if err := checkMoto(ctx, o, m.endpoint); err != nil {
		m.stop()
		return t, nil, err
	}
	t.endpoint = m.endpoint
	o.motoVersion = m.version()
	return t, m.stop, nil
}

// parseCounts parses a list of numbers separated by commas, each at least
// least.
func parseCounts(flag, s string, least int64) ([]int64, error) {
	var ns []int64
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
		if err != nil || n < least {
			return nil, fmt.Errorf("%s %q: want numbers of at least %d separated by commas", flag, s, least)
		}
		ns = append(ns, n)
	}
	return ns, nil
}

func (t *benchTarget) count(op loadgen.Operation, res loadgen.Result) {
	if t.succeeded == nil {
		t.succeeded = map[loadgen.Operation]int64{}
	}
	t.succeeded[op] += res.Succeeded
}

func rateLabel(rate float64) string {
	if rate <= 0 {
		return ""
	}
	return fmt.Sprintf("@%g", rate)
}

// machineBusy is the CPU time every process on the machine has used since
// boot (the non-idle fields of /proc/stat's cpu line), or -1 if unknown.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return -1
	}
	var ticks int64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return -1
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ
}

// userHZ is the unit of /proc/stat, fixed at 100 on Linux.
const userHZ = 100

type machine struct {
	cpus       int
	maxprocs   int
	cpuModel   string
	goVersion  string
	commit     string
	loadBefore string
	loadAfter  string
	start      time.Time
	// sqliteFiles are meterd's SQLite files after the runs (closed, so
	// checkpointed) and their sizes, sqliteBytes their total and
	// sqliteRecords the records they hold.
	sqliteFiles                map[string]int64
	sqliteBytes, sqliteRecords int64
}

func machineContext(ctx context.Context) machine {
	return machine{
		cpus:       runtime.NumCPU(),
		maxprocs:   runtime.GOMAXPROCS(0),
		cpuModel:   cpuModel(),
		goVersion:  runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		commit:     gitCommit(ctx),
		loadBefore: loadavg(),
		start:      time.Now().UTC(),
	}
}

// loadavg returns the 1, 5 and 15 minute load averages, or "unknown".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// gitCommit returns the short commit of the working directory, marked when
// tracked files have uncommitted changes, or "unknown".
func gitCommit(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	commit := strings.TrimSpace(string(out))
	status, err := exec.CommandContext(ctx, "git", "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(bytes.TrimSpace(status)) > 0 {
		commit += " (with uncommitted changes)"
	}
	return commit
}

func opLabel(op loadgen.Operation, records int, rate float64) string {
	label := "MeterUsage"
	if op == loadgen.OpBatch {
		label = fmt.Sprintf("BatchMeterUsage ×%d", records)
	}
	if rate > 0 {
		label += fmt.Sprintf(" at %g/s", rate)
	}
	return label
}

// report renders the generated section of BENCHMARKS.md, markers included.
func report(m machine, o benchOptions, command string, runs []benchRun) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", benchBegin)
	fmt.Fprintf(&b, "<!-- Generated by `meterd bench -write`: edit outside the markers. -->\n\n")
	fmt.Fprintf(&b, "`%s`, %s.\n\n", strings.TrimSpace(command), m.start.Format("2006-01-02 15:04 MST"))
	machineLines(&b, m)
	dup := "no duplicates"
	if o.dup > 0 {
		dup = fmt.Sprintf("%g%% duplicate requests", o.dup*100)
	}
	f := o.fixture
	fmt.Fprintf(&b, "- Load: %d concurrent requests, %s per run after a %s warm-up, %d records per batch, %d customers, %d dimensions, %d AgentCore and %d EC2 workloads, %s.\n",
		o.concurrency, o.duration, o.warmup, o.records, f.Customers, f.Dimensions, f.Workloads, f.EC2Workloads, dup)
	hours := loadgen.MaxHours(loadgen.OpBatch, m.start)
	fmt.Fprintf(&b, "- Records: BatchMeterUsage cycles through %d customers × %d dimensions × %d hours = %d distinct records before it repeats one; every AgentCore MeterUsage request is a new record (fresh ClientToken)",
		f.Customers, f.Dimensions, hours, batchKeys(f, m.start))
	if f.EC2Workloads > 0 {
		fmt.Fprintf(&b, ", each EC2 workload meters %d dimensions × %d hours", f.Dimensions, loadgen.MaxHours(loadgen.OpMeter, m.start))
	}
	b.WriteString(".\n")
	fmt.Fprintf(&b, "- One process: generator, baseline and meterd (fresh SQLite file, default durability: WAL, synchronous=FULL) share the CPUs. CPU/req and busy cores are the whole process's getrusage, server and generator together; other cores is what the rest of the machine used meanwhile (/proc/stat), which shows when a run competed with other work.\n")
	if o.postgres != "" {
		where := "a throwaway PostgreSQL cluster (internal/pgtest: fsync on, synchronous_commit on) on this machine, a fresh database for each row"
		if o.postgres != "auto" {
			where = "the PostgreSQL database given with -postgres"
		}
		fmt.Fprintf(&b, "- meterd-pg×N: N meterd replicas (N app.Open in this process) on one database of %s; the generator's workers take the replicas in turn. The PostgreSQL server's CPU is outside this process: it shows under other cores. These rows run after all the others, with the cluster started for them and stopped after them, so that its writes do not fall into the SQLite runs.\n", where)
	}
	if o.prefill > 0 {
		fmt.Fprintf(&b, "- Each meterd stored %d BatchMeterUsage records, unmeasured, before its first measured run.\n", o.prefill)
	}
	if slices.ContainsFunc(runs, func(r benchRun) bool { return r.target == "moto" }) {
		where := fmt.Sprintf("moto_server's server (%s; werkzeug, a thread per connection, in a Python process of its own, which closes the connection after every answer) started for this run on 127.0.0.1, with the fixture's customers subscribed in its meteringmarketplace backend first (moto has no API for that)", o.motoVersion)
		if o.moto.url != "" {
			where = "the moto server given with -moto"
		}
		fmt.Fprintf(&b, "- moto: BatchMeterUsage only, against %s. moto checks no signature and stores no record (its duplicate check compares with a list nothing is added to); its CPU is outside this process (other cores). The last cell of its row is meterd's records/s over moto's.\n", where)
	}
	if m.sqliteBytes > 0 && m.sqliteRecords > 0 {
		var files []string
		for _, name := range slices.Sorted(maps.Keys(m.sqliteFiles)) {
			files = append(files, fmt.Sprintf("%s %.1f MB", name, float64(m.sqliteFiles[name])/1e6))
		}
		fmt.Fprintf(&b, "- meterd's SQLite files after the runs (%s): %.1f MB for %d records stored, %.0f bytes a record (usage records with their index and names, the hourly rollups, the audit log).\n",
			strings.Join(files, ", "), float64(m.sqliteBytes)/1e6, m.sqliteRecords, float64(m.sqliteBytes)/float64(m.sqliteRecords))
	}
	b.WriteString("\n")
	writeRunsTable(&b, m, o, runs)
	fmt.Fprintf(&b, "%s\n", benchEnd)
	return b.String()
}

// machineLines writes the bullets about the machine and its load.
func machineLines(b *strings.Builder, m machine) {
	cpu := fmt.Sprintf("%d CPUs", m.cpus)
	if m.cpuModel != "" {
		cpu += " (" + m.cpuModel + ")"
	}
	fmt.Fprintf(b, "- Machine: %s, GOMAXPROCS %d, %s, commit %s.\n", cpu, m.maxprocs, m.goVersion, m.commit)
	fmt.Fprintf(b, "- Load average (1, 5, 15 min): %s before, %s after.\n", m.loadBefore, m.loadAfter)
}

// writeRunsTable writes the table of runs and the notes under it.
func writeRunsTable(b *strings.Builder, m machine, o benchOptions, runs []benchRun) {
	fmt.Fprintf(b, "| target | operation | req/s | records/s | p50 | p99 | p99.9 | errors | missed | CPU/req | busy cores | other cores | meterd/baseline |\n")
	fmt.Fprintf(b, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	baselines, meterds := map[string]loadgen.Result{}, map[string]loadgen.Result{}
	for _, r := range runs {
		key := fmt.Sprintf("%s%g", r.op, r.rate)
		res := r.res
		ratio := ""
		switch base, ok := baselines[key]; {
		case r.target == "baseline":
			baselines[key] = res
		case r.target == "moto":
			if md, ok := meterds[key]; ok && res.RecordsPerSecond() > 0 {
				ratio = fmt.Sprintf("meterd ÷ moto: %.1f", md.RecordsPerSecond()/res.RecordsPerSecond())
			}
		case ok:
			ratio = ratioCell(res, base, r.rate)
		}
		if r.target == "meterd" {
			meterds[key] = res
		}
		cpuPerReq, busy, others := "", "", ""
		if res.Requests > 0 && res.Elapsed > 0 {
			cpuPerReq = fmtDuration(res.CPU / time.Duration(res.Requests))
			busy = fmt.Sprintf("%.2f", res.CPU.Seconds()/res.Elapsed.Seconds())
			if r.machineCPU >= 0 {
				others = fmt.Sprintf("%.2f", max(r.machineCPU-res.CPU, 0).Seconds()/res.Elapsed.Seconds())
			}
		}
		fmt.Fprintf(b, "| %s | %s | %.0f | %.0f | %s | %s | %s | %s | %d | %s | %s | %s | %s |\n",
			r.target, opLabel(r.op, o.records, r.rate), res.RequestsPerSecond(), res.RecordsPerSecond(),
			fmtDuration(res.Latency.Percentile(50)), fmtDuration(res.Latency.Percentile(99)), fmtDuration(res.Latency.Percentile(99.9)),
			errorsCell(res), res.Missed, cpuPerReq, busy, others, ratio)
	}
	var notes []string
	for _, r := range runs {
		for _, code := range slices.Sorted(maps.Keys(r.res.ErrorSamples)) {
			msg := r.res.ErrorSamples[code]
			notes = append(notes, fmt.Sprintf("- %s %s: %s (first of %d): %s", r.target, opLabel(r.op, o.records, r.rate), code, r.res.Errors[code], oneLine(msg)))
		}
		if keys := batchKeys(o.fixture, m.start); strings.HasPrefix(r.target, "meterd") && r.op == loadgen.OpBatch && r.res.Duplicates == 0 && r.end*int64(o.records) > keys {
			repeats := r.end*int64(o.records) - max(keys, r.first*int64(o.records))
			notes = append(notes, fmt.Sprintf("- %s %s: %d of the run's %d records repeated an earlier record (idempotent retries, not new rows): raise -customers or -dimensions.",
				r.target, opLabel(r.op, o.records, r.rate), repeats, (r.end-r.first)*int64(o.records)))
		}
		if r.op == loadgen.OpBatch && r.res.Succeeded != r.res.Records {
			notes = append(notes, fmt.Sprintf("- %s %s: %d of %d records not answered Success.", r.target, opLabel(r.op, o.records, r.rate), r.res.Records-r.res.Succeeded, r.res.Records))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(b, "\n%s\n", strings.Join(notes, "\n"))
	}
}

// batchKeys is the number of distinct BatchMeterUsage records the fixture
// allows at t.
func batchKeys(f loadgen.Fixture, t time.Time) int64 {
	return int64(f.Customers) * int64(f.Dimensions) * int64(loadgen.MaxHours(loadgen.OpBatch, t))
}

// ratioCell compares meterd with the baseline: throughput for runs as fast
// as possible, p99 latency for fixed-rate runs (whose throughput is the
// rate on both when they keep up).
func ratioCell(res, base loadgen.Result, rate float64) string {
	if rate > 0 {
		if base.Latency.Percentile(99) <= 0 {
			return ""
		}
		return fmt.Sprintf("p99 ×%.1f", float64(res.Latency.Percentile(99))/float64(base.Latency.Percentile(99)))
	}
	if base.RequestsPerSecond() <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", res.RequestsPerSecond()/base.RequestsPerSecond())
}

func errorsCell(res loadgen.Result) string {
	n := res.ErrorCount()
	if n == 0 {
		return "0"
	}
	var codes []string
	for _, code := range slices.Sorted(maps.Keys(res.Errors)) {
		codes = append(codes, fmt.Sprintf("%s %d", code, res.Errors[code]))
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(codes, ", "))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// fmtDuration rounds d to three significant digits in a readable unit.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// replaceSection puts section in place of the results section of the file
// at path.
func replaceSection(path, section string) error {
	return replaceMarked(path, benchBegin, benchEnd, section)
}

// replaceMarked puts section in place of the section between the begin and
// end markers of the file at path, keeping the rest; a file without them
// gets it appended, and a missing file is created.
func replaceMarked(path, beginMarker, endMarker, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	text := string(old)
	var out string
	begin := strings.Index(text, beginMarker)
	end := strings.Index(text, endMarker)
	switch {
	case begin >= 0 && end > begin:
		rest := text[end+len(endMarker):]
		rest = strings.TrimPrefix(rest, "\n")
		out = text[:begin] + section + rest
	case begin >= 0 || end >= 0:
		return fmt.Errorf("%s: %s and %s markers are out of order or one is missing", path, beginMarker, endMarker)
	case text == "":
		out = section
	default:
		out = strings.TrimRight(text, "\n") + "\n\n" + section
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(out), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
