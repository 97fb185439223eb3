package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
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

// benchmarkPut measures PutRecords from many concurrent clients with
// unique keys, which is the write path of a busy server.
func benchmarkPut(b *testing.B, perCall, parallelism int, sync string) {
	db, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "meterd.db"), sqlite.Options{Synchronous: sync})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		recs := make([]metering.Record, perCall)
		for pb.Next() {
			for i := range recs {
				recs[i] = testRecord(fmt.Sprint("bench\x1fi-0123456789abcdef0\x1fprod-ami\x1fhosts\x1f", next.Add(1)))
			}
			if _, err := db.PutRecords(context.Background(), recs); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	s := db.Stats()
	b.ReportMetric(float64(b.N*perCall)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(s.Calls)/float64(max(s.Commits, 1)), "calls/commit")
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
// included, for BatchMeterUsage-shaped records (the common case). b.N does
// not matter: it inserts a fixed number of records.
func BenchmarkRecordSize(b *testing.B) {
	const n = 100_000
	path := filepath.Join(b.TempDir(), "meterd.db")
	db, err := sqlite.Open(b.Context(), path, sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		b.Fatal(err)
	}
	pages := func() int64 {
		raw, err := sql.Open("sqlite3", path)
		if err != nil {
			b.Fatal(err)
		}
		defer raw.Close()
		var count, free, size int64
		for q, v := range map[string]*int64{"PRAGMA page_count": &count, "PRAGMA freelist_count": &free, "PRAGMA page_size": &size} {
			if err := raw.QueryRow(q).Scan(v); err != nil {
				b.Fatal(err)
			}
		}
		return (count - free) * size
	}
	before := pages()
	hour := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const perCall = 25
	for i := 0; i < n; i += perCall {
		batch := make([]metering.Record, perCall)
		for j := range batch {
			k := i + j
			customer := fmt.Sprintf("%012d", 100000000000+k%5000)
			ts := hour.Add(time.Duration(k/5000) * time.Hour).Add(time.Duration(k%3600) * time.Second)
			batch[j] = metering.Record{
				ID:                 fmt.Sprintf("%08x-1b2c-4d3e-8f4a-%012x", k, k*7919),
				Key:                "bm-product\x1f6j9g7gq0s5ohsn1r8r3n4fbbm\x1f" + customer + "\x1fusers\x1f" + fmt.Sprint(ts.Truncate(time.Hour).Unix()),
				Fingerprint:        fmt.Sprintf("%032x", k*104729),
				Operation:          "BatchMeterUsage",
				Seller:             "111111111111",
				ProductCode:        "6j9g7gq0s5ohsn1r8r3n4fbbm",
				Identity:           metering.IdentityProduct,
				CustomerAccountID:  customer,
				CustomerIdentifier: fmt.Sprintf("Cust%07d", k%5000),
				CallerAccountID:    "111111111111",
				AccessKeyID:        "AKIAIOSFODNN7EXAMPLE",
				Dimension:          "users",
				Timestamp:          ts,
				Quantity:           int64(k % 1000),
				CreatedAt:          ts.Add(time.Second),
			}
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
