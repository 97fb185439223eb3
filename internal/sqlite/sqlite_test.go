package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metering/meteringtest"
	"github.com/meterd/meterd/internal/sqlite"
)

func open(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestStore(t *testing.T) {
	meteringtest.RunStoreTests(t, func(t *testing.T) metering.Store {
		return open(t, filepath.Join(t.TempDir(), "meterd.db"))
	})
}

func testRecord(key string) metering.Record {
	ts := time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)
	return metering.Record{
		ID:                "id-" + key,
		Key:               key,
		Fingerprint:       "fp",
		Operation:         "MeterUsage",
		Seller:            "111111111111",
		ProductCode:       "prod-ami",
		Identity:          metering.IdentityWorkload,
		CustomerAccountID: "222222222222",
		Resource:          "i-0123456789abcdef0",
		CallerAccountID:   "222222222222",
		AccessKeyID:       "AKIABUYER",
		Dimension:         "hosts",
		Timestamp:         ts,
		Quantity:          1,
		CreatedAt:         ts,
	}
}

// TestReopen checks that idempotency survives a restart: the key's first
// record is still the answer after Close and Open.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := open(t, path)
	first := testRecord("k1")
	if _, err := db.PutRecords(t.Context(), []metering.Record{first}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = open(t, path)
	defer db.Close()
	again := testRecord("k1")
	again.ID = "id-again"
	got, err := db.PutRecords(t.Context(), []metering.Record{again})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].ID != first.ID {
		t.Errorf("after reopen, key k1 answers ID %q, want the original %q", got[0].ID, first.ID)
	}
}

// TestGroupCommit checks that concurrent calls share transactions.
func TestGroupCommit(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "meterd.db"))
	defer db.Close()
	const calls = 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, calls)
	for i := range calls {
		wg.Go(func() {
			<-start
			got, err := db.PutRecords(context.Background(), []metering.Record{testRecord(fmt.Sprint("k", i))})
			if err == nil && got[0].ID != fmt.Sprint("id-k", i) {
				err = fmt.Errorf("call %d got ID %q", i, got[0].ID)
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := db.Stats()
	t.Logf("%+v: %.1f calls per commit", s, float64(s.Calls)/float64(s.Commits))
	if s.Calls != calls || s.Records != calls {
		t.Errorf("Stats = %+v, want %d calls and records", s, calls)
	}
	if s.Commits >= s.Calls {
		t.Errorf("Stats = %+v: %d calls took %d commits, want fewer commits than calls", s, s.Calls, s.Commits)
	}
}

// TestCloseDrains checks that calls queued when Close starts are committed
// and the others refused, never lost.
func TestCloseDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := open(t, path)
	const calls = 100
	var (
		wg sync.WaitGroup
		ok atomic.Int64
	)
	for i := range calls {
		wg.Go(func() {
			_, err := db.PutRecords(context.Background(), []metering.Record{testRecord(fmt.Sprint("k", i))})
			switch err {
			case nil:
				ok.Add(1)
			case sqlite.ErrClosed:
			default:
				t.Errorf("PutRecords: %v", err)
			}
		})
	}
	time.Sleep(time.Millisecond)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	db = open(t, path)
	defer db.Close()
	rows, err := db.UsageSummary(t.Context(), metering.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	for _, r := range rows {
		stored += r.Records
	}
	if stored != ok.Load() {
		t.Errorf("%d calls succeeded, %d records stored", ok.Load(), stored)
	}
}

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	if _, err := sqlite.Open(t.Context(), filepath.Join(dir, "a.db"), sqlite.Options{Synchronous: "sometimes"}); err == nil {
		t.Error("Open with synchronous=sometimes succeeded")
	}
	if _, err := sqlite.Open(t.Context(), ":memory:", sqlite.Options{}); err == nil {
		t.Error("Open(:memory:) succeeded")
	}
	// Characters that URIs reserve are part of the file name.
	path := filepath.Join(dir, "odd ?name#%41.db")
	db, err := sqlite.Open(t.Context(), path, sqlite.Options{Synchronous: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "odd*")); len(matches) != 1 || matches[0] != path {
		t.Errorf("files = %q, want %q", matches, path)
	}
}

// benchRecord is record n of a BatchMeterUsage-shaped stream: customers
// vary fastest, then dimensions, then hours, as meterd bench sends them,
// with the keys and fingerprints metering makes. Names have the lengths of
// real ones (a 25-character product code, 12-digit accounts).
func benchRecord(n int64) metering.Record {
	const customers, dims = 1000, 32
	c, d, h := n%customers, n/customers%dims, n/(customers*dims)
	hour := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour)
	ts := hour.Add(time.Duration(n%3600) * time.Second)
	account := strconv.FormatInt(100000000000+c, 10)
	dim := "dimension-" + strconv.FormatInt(d, 10)
	const product = "6j9g7gq0s5ohsn1r8r3n4fbbm"
	fp := sha256.Sum256([]byte(strconv.FormatInt(n%7, 10)))
	key := metering.HourKey(ts, "bm-product", product, account, dim)
	return metering.Record{
		ID:                 metering.RecordID(key), // as metering makes them
		Key:                key,
		Fingerprint:        string(fp[:metering.FingerprintSize]),
		Operation:          "BatchMeterUsage",
		Seller:             "111111111111",
		ProductCode:        product,
		Identity:           metering.IdentityProduct,
		CustomerAccountID:  account,
		CustomerIdentifier: "Cust" + strconv.FormatInt(1000000+c, 10),
		CallerAccountID:    "111111111111",
		AccessKeyID:        "AKIAIOSFODNN7EXAMPLE",
		Dimension:          dim,
		Timestamp:          ts,
		Quantity:           n % 1000,
		CreatedAt:          ts.Add(time.Second),
	}
}

// benchmarkPut measures PutRecords from many concurrent clients with
// unique keys, which is the write path of a busy server.
func benchmarkPut(b *testing.B, perCall, parallelism int, sync string) {
	path := filepath.Join(b.TempDir(), "meterd.db")
	db, err := sqlite.Open(b.Context(), path, sqlite.Options{Synchronous: sync})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if os.Getenv("METERD_BENCH_NO_ROLLUPS") != "" {
		dropRollupTriggers(b, path)
	}
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		recs := make([]metering.Record, perCall)
		for pb.Next() {
			first := next.Add(int64(perCall)) - int64(perCall)
			for i := range recs {
				recs[i] = benchRecord(first + int64(i))
			}
			if _, err := db.PutRecords(context.Background(), recs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed, cpu := time.Since(start), cpuTime()-cpu
	b.StopTimer()
	s := db.Stats()
	b.ReportMetric(float64(b.N*perCall)/elapsed.Seconds(), "records/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*perCall), "cpu-ns/record")
	}
	b.ReportMetric(float64(s.Calls)/float64(max(s.Commits, 1)), "calls/commit")
}

// dropRollupTriggers stops the hourly rollups of the database at path, to
// tell their cost from the records'. METERD_BENCH_NO_ROLLUPS=1 makes the
// PutRecords benchmarks drop them.
func dropRollupTriggers(b *testing.B, path string) {
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	for _, trigger := range []string{"usage_rows_rollup", "usage_rows_rollup_delete"} {
		if _, err := raw.Exec("DROP TRIGGER " + trigger); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutRecordsParallel is BatchMeterUsage traffic: 25 records a call.
func BenchmarkPutRecordsParallel(b *testing.B) {
	for _, p := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("clients=%dxGOMAXPROCS", p), func(b *testing.B) { benchmarkPut(b, 25, p, "") })
	}
}

// BenchmarkPutRecordsSingle is MeterUsage traffic: one record a call.
func BenchmarkPutRecordsSingle(b *testing.B) {
	for _, p := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("clients=%dxGOMAXPROCS", p), func(b *testing.B) { benchmarkPut(b, 1, p, "") })
	}
}

// BenchmarkRecordSize reports the file bytes a usage record takes, indexes
// and names included, for BatchMeterUsage-shaped records (the common case):
// "records" without the hourly rollups' triggers, "with-rollups" as
// meterd runs. b.N does not matter: it inserts a fixed number of records.
func BenchmarkRecordSize(b *testing.B) {
	b.Run("records", func(b *testing.B) { benchmarkRecordSize(b, false) })
	b.Run("with-rollups", func(b *testing.B) { benchmarkRecordSize(b, true) })
}

func benchmarkRecordSize(b *testing.B, rollups bool) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "meterd.db")
	db, err := sqlite.Open(b.Context(), path, sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		b.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	if !rollups {
		dropRollupTriggers(b, path)
	}
	pages := func() int64 {
		var count, free, size int64
		for q, v := range map[string]*int64{"PRAGMA page_count": &count, "PRAGMA freelist_count": &free, "PRAGMA page_size": &size} {
			if err := raw.QueryRow(q).Scan(v); err != nil {
				b.Fatal(err)
			}
		}
		return (count - free) * size
	}
	before := pages()
	const perCall = 25
	for i := 0; i < n; i += perCall {
		batch := make([]metering.Record, perCall)
		for j := range batch {
			batch[j] = benchRecord(int64(i + j))
		}
		if _, err := db.PutRecords(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := db.Close(); err != nil { // checkpoints the WAL into the file
		b.Fatal(err)
	}
	b.ReportMetric(float64(pages()-before)/n, "bytes/record")
}

// TestCloseCheckpoints checks that Close leaves the records in the main
// file and no write-ahead log: every statement the committer prepared is
// finalized, so that the write connection really closes (a connection
// with a live statement is kept as a zombie and never checkpoints).
func TestCloseCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := open(t, path)
	recs := make([]metering.Record, 60) // several statements of 25, and singles
	for i := range recs {
		recs[i] = benchRecord(int64(i))
	}
	if _, err := db.PutRecords(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path + "-wal"); err == nil {
		t.Errorf("after Close the log is still there, %d bytes", st.Size())
	}
}
