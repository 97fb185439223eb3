package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metering/meteringtest"
	"github.com/meterd/meterd/internal/pgtest"
	"github.com/meterd/meterd/internal/postgres"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t testing.TB, dsn string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// openClosed opens a DB that is closed when the test ends.
func openClosed(t testing.TB, dsn string) *postgres.DB {
	t.Helper()
	db := open(t, dsn)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	meteringtest.RunStoreTests(t, func(t *testing.T) metering.Store {
		return open(t, pgtest.NewDatabase(t))
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

func count(t testing.TB, db metering.Store) int64 {
	t.Helper()
	rows, err := db.UsageSummary(context.Background(), metering.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range rows {
		n += r.Records
	}
	return n
}

// schema lists the tables and the migration version of the database at dsn.
func schema(t *testing.T, dsn string) (tables []string, version int64) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	return tables, version
}

// migrationCount is how many migrations the package embeds, and the
// newest version among them: versions may have gaps (00020 follows 00003,
// so that parallel work numbers its migrations without colliding).
func migrationCount(t *testing.T) (count, newest int64) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		v, err := strconv.ParseInt(base[:strings.IndexByte(base, '_')], 10, 64)
		if err != nil {
			t.Fatalf("migration %s has no version prefix: %v", f, err)
		}
		newest = max(newest, v)
	}
	return int64(len(files)), newest
}

// TestMigrate migrates an empty database, then again (a no-op), and opens
// it; replicas that start together migrate one after another.
func TestMigrate(t *testing.T) {
	t.Parallel()
	count, latest := migrationCount(t)
	dsn := pgtest.NewDatabase(t)
	v, err := postgres.Migrate(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v != latest {
		t.Errorf("Migrate: version %d, want %d", v, latest)
	}
	tables, applied := schema(t, dsn)
	if !slices.Contains(tables, "usage_records") || !slices.Contains(tables, "goose_db_version") || applied != count {
		t.Errorf("after Migrate: tables %v, %d migrations applied, want usage_records among them and %d", tables, applied, count)
	}
	if v, err := postgres.Migrate(t.Context(), dsn, postgres.Options{}); err != nil || v != latest {
		t.Fatalf("Migrate again: %d, %v", v, err)
	}
	db := open(t, dsn)
	db.Close()
	if tables2, applied2 := schema(t, dsn); !slices.Equal(tables2, tables) || applied2 != count {
		t.Errorf("after a second Migrate and Open: tables %v, %d migrations applied; want %v, %d", tables2, applied2, tables, count)
	}

	// Replicas starting together on an empty database.
	dsn = pgtest.NewDatabase(t)
	const replicas = 4
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() {
			db, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err == nil {
				_, err = db.PutRecords(context.Background(), []metering.Record{testRecord(fmt.Sprint("k", i))})
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if _, applied := schema(t, dsn); applied != count {
		t.Errorf("%d replicas starting together applied %d migrations, want %d", replicas, applied, count)
	}
}

// TestOpenErrors: a bad DSN does not echo its password, and an unreachable
// server fails Open at once.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(t.Context(), "postgres://u:hunter2@127.0.0.1:1/x?sslmode=bogus", postgres.Options{})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open with a bad DSN: %v", err)
	}
	_, err = postgres.Open(t.Context(), "postgres://u@127.0.0.1:1/x?statement_timeout=0", postgres.Options{})
	if err == nil {
		t.Error("Open with statement_timeout=0 succeeded")
	}
	start := time.Now()
	_, err = postgres.Open(t.Context(), "postgres://u@127.0.0.1:1/x?sslmode=disable", postgres.Options{})
	if err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("Open on a closed port: %v after %s", err, time.Since(start))
	}
}

// TestGroupCommit checks that concurrent calls share transactions.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	db := openClosed(t, pgtest.NewDatabase(t))
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

// TestFailingCallAlone: a call whose data the database refuses (a NUL byte
// in text) fails alone; the calls sharing its transaction are stored.
func TestFailingCallAlone(t *testing.T) {
	t.Parallel()
	db := openClosed(t, pgtest.NewDatabase(t))
	const calls = 60
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, calls)
	for i := range calls {
		wg.Go(func() {
			recs := []metering.Record{testRecord(fmt.Sprint("a", i)), testRecord(fmt.Sprint("b", i))}
			if i%3 == 1 {
				recs[1].Dimension = "bad\x00dimension"
			}
			<-start
			_, errs[i] = db.PutRecords(context.Background(), recs)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if (i%3 == 1) != (err != nil) {
			t.Errorf("call %d: error %v", i, err)
		}
	}
	if n, want := count(t, db), int64(2*(calls-calls/3)); n != want {
		t.Errorf("stored %d records, want %d", n, want)
	}
	t.Logf("%+v", db.Stats())
}

// TestReplicas: two DBs on one database, one Key from many goroutines on
// each: one row, one ID for everyone.
func TestReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	a, b := openClosed(t, dsn), openClosed(t, dsn)
	for round := range 20 {
		const n = 16
		ids := make([]string, 2*n)
		errs := make([]error, 2*n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 2 * n {
			db := a
			if i%2 == 1 {
				db = b
			}
			wg.Go(func() {
				r := testRecord(fmt.Sprint("round-", round))
				r.ID = fmt.Sprintf("id-%d-%d", round, i)
				// Other keys around it, in an order that differs between
				// calls, so that batches cross.
				recs := []metering.Record{testRecord(fmt.Sprint("x", round, "-", i%5)), r, testRecord(fmt.Sprint("y", round, "-", ((n-i)%5+5)%5))}
				<-start
				got, err := db.PutRecords(context.Background(), recs)
				if err == nil {
					ids[i] = got[1].ID
				}
				errs[i] = err
			})
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if id != ids[0] {
				t.Fatalf("round %d: caller %d got ID %q, caller 0 got %q", round, i, id, ids[0])
			}
		}
	}
	if n := count(t, a); n != 20*(1+5+5) {
		t.Errorf("stored %d records, want %d", n, 20*11)
	}
	t.Logf("replica a %+v, replica b %+v", a.Stats(), b.Stats())
}

// TestInFlightConflict: another replica's transaction holds a Key
// uncommitted. PutRecords of the same Key waits for it; when it commits,
// PutRecords returns its record; when it rolls back, PutRecords stores its
// own.
func TestInFlightConflict(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	db := openClosed(t, dsn)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	for _, commit := range []bool{true, false} {
		key := fmt.Sprint("inflight-", commit)
		tx, err := conn.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		err = insertRaw(t.Context(), tx, key, "other-replica")
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			recs []metering.Record
			err  error
		}
		done := make(chan result, 1)
		go func() {
			recs, err := db.PutRecords(context.Background(), []metering.Record{testRecord(key)})
			done <- result{recs, err}
		}()
		waitForLockWait(t, dsn)
		select {
		case r := <-done:
			t.Fatalf("PutRecords returned %v, %v while another transaction held the key", r.recs, r.err)
		default:
		}
		wantID := "id-" + key
		if commit {
			err, wantID = tx.Commit(t.Context()), "other-replica"
		} else {
			err = tx.Rollback(t.Context())
		}
		if err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-done:
			if r.err != nil {
				t.Fatal(r.err)
			}
			if r.recs[0].ID != wantID {
				t.Errorf("commit=%v: PutRecords returned ID %q, want %q", commit, r.recs[0].ID, wantID)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("PutRecords still waits after the other transaction ended")
		}
	}
}

// insertRaw inserts a record for key as another replica would, in tx.
func insertRaw(ctx context.Context, tx pgx.Tx, key, id string) error {
	_, err := tx.Exec(ctx, `INSERT INTO usage_records (key, id, fingerprint, operation, seller, product_code, identity,
		customer_account_id, customer_identifier, license_arn, resource, caller_account_id, access_key_id, client_token,
		dimension, ts, hour, quantity, allocations, created_at)
		VALUES ($1, $2, 'fp', 'MeterUsage', 's', 'p', 'workload', 'a', '', '', 'r', 'a', 'k', '', 'd', now(), date_trunc('hour', now()), 1, NULL, now())`, key, id)
	return err
}

// waitForLockWait waits until a meterd session waits for a lock.
func waitForLockWait(t *testing.T, dsn string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for deadline := time.Now().Add(5 * time.Second); ; {
		var n int
		err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'meterd' AND wait_event_type = 'Lock'`).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no meterd session waits for a lock after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDeadlockRetry: a group commit that the database aborts for a
// deadlock runs again, and its caller never sees the deadlock.
func TestDeadlockRetry(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	db := openClosed(t, dsn)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if err := insertRaw(t.Context(), tx, "k2", "other-k2"); err != nil {
		t.Fatal(err)
	}
	// The store takes k1, then waits for k2.
	type result struct {
		recs []metering.Record
		err  error
	}
	done := make(chan result, 1)
	go func() {
		recs, err := db.PutRecords(context.Background(), []metering.Record{testRecord("k2"), testRecord("k1")})
		done <- result{recs, err}
	}()
	waitForLockWait(t, dsn)
	// Now the other side wants k1: a deadlock. The store waited first, so
	// its backend, whose deadlock_timeout (100ms on pgtest's clusters) runs
	// out first, finds the deadlock and is the one aborted, which releases
	// k1. This side waits 1s before it looks. Should the machine be so
	// slow that this insert comes after the store's check, this side finds
	// the deadlock and is aborted instead; the store then stores its own.
	if _, err := tx.Exec(t.Context(), "SET LOCAL deadlock_timeout = '1s'"); err != nil {
		t.Fatal(err)
	}
	var pe *pgconn.PgError
	err = insertRaw(t.Context(), tx, "k1", "other-k1")
	storeAborted := err == nil
	if err == nil {
		err = tx.Commit(t.Context())
	} else if !errors.As(err, &pe) || pe.Code != "40P01" {
		t.Fatal(err)
	}
	if storeAborted && err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	want, retries := []string{"other-k2", "other-k1"}, uint64(1)
	if !storeAborted {
		t.Log("the other side was aborted: the retry went untested this time")
		want, retries = []string{"id-k2", "id-k1"}, 0
	}
	if r.recs[0].ID != want[0] || r.recs[1].ID != want[1] {
		t.Errorf("PutRecords returned IDs %q, %q; want %q", r.recs[0].ID, r.recs[1].ID, want)
	}
	// The store's retry can meet the other side's insert of k1 again if it
	// takes k1 before that insert wakes: a second deadlock, which the store
	// loses again. So at least one retry, not exactly one.
	if s := db.Stats(); (retries == 0) != (s.Retries == 0) || s.Commits != 1 {
		t.Errorf("Stats = %+v, want %d retries (or more) and 1 commit", s, retries)
	}
}

// TestOutage stops the server under a DB: calls fail within the timeout,
// never hang, and succeed again once the server is back, on the same DB.
func TestOutage(t *testing.T) {
	t.Parallel()
	c := pgtest.NewCluster(t)
	name, err := c.CreateDatabase()
	if err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(t.Context(), c.DSN(name)+"&statement_timeout=2s", postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.PutRecords(t.Context(), []metering.Record{testRecord("before")}); err != nil {
		t.Fatal(err)
	}

	c.Stop(t)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 20 {
		wg.Go(func() {
			start := time.Now()
			_, err := db.PutRecords(context.Background(), []metering.Record{testRecord(fmt.Sprint("during-", i))})
			if err == nil {
				t.Errorf("PutRecords succeeded with the server down")
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("PutRecords took %s to fail", d)
			}
			failed.Add(1)
		})
	}
	wg.Wait()
	start := time.Now()
	if _, err := db.UsageSummary(t.Context(), metering.UsageFilter{}); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("UsageSummary with the server down: %v after %s", err, time.Since(start))
	}
	if _, err := db.LoadState(t.Context()); err == nil {
		t.Error("LoadState with the server down succeeded")
	}

	c.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := db.PutRecords(t.Context(), []metering.Record{testRecord("after")})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PutRecords still fails 10s after the server came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := count(t, db); n != 2 {
		t.Errorf("stored %d records, want 2 (before and after)", n)
	}
}

// benchmarkPut measures PutRecords from many concurrent clients with
// unique keys, as internal/sqlite's benchmark of the same name does.
func benchmarkPut(b *testing.B, perCall, parallelism, replicas int) {
	dsn := pgtest.NewDatabase(b)
	dbs := make([]*postgres.DB, replicas)
	for i := range dbs {
		dbs[i] = open(b, dsn)
		defer dbs[i].Close()
	}
	var next, client atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		db := dbs[int(client.Add(1))%replicas]
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
	var commits, calls uint64
	for _, db := range dbs {
		s := db.Stats()
		commits, calls = commits+s.Commits, calls+s.Calls
	}
	b.ReportMetric(float64(b.N*perCall)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(calls)/float64(max(commits, 1)), "calls/commit")
}

// BenchmarkPutRecordsParallel is BatchMeterUsage traffic: 25 records a call.
func BenchmarkPutRecordsParallel(b *testing.B) {
	for _, replicas := range []int{1, 2} {
		for _, p := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("replicas=%d/clients=%dxGOMAXPROCS", replicas, p), func(b *testing.B) { benchmarkPut(b, 25, p, replicas) })
		}
	}
}

// BenchmarkPutRecordsSingle is MeterUsage traffic: one record a call.
func BenchmarkPutRecordsSingle(b *testing.B) {
	for _, replicas := range []int{1, 2} {
		for _, p := range []int{1, 8, 32} {
			b.Run(fmt.Sprintf("replicas=%d/clients=%dxGOMAXPROCS", replicas, p), func(b *testing.B) { benchmarkPut(b, 1, p, replicas) })
		}
	}
}

// TestStateBoundGrowsWithSize: applying and loading many customers takes
// longer than one Timeout, which bounds each database operation so that an
// outage shows fast; their bound grows with the state instead.
func TestStateBoundGrowsWithSize(t *testing.T) {
	db, err := postgres.Open(t.Context(), pgtest.NewDatabase(t), postgres.Options{Timeout: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := metering.State{
		Accounts: []metering.Account{{ID: "111111111111"}},
		Products: []metering.Product{{Code: "p", Seller: "111111111111", Type: metering.ProductSaaS, Dimensions: []string{"users"}}},
	}
	const n = 30000
	for i := range n {
		st.Customers = append(st.Customers, metering.Customer{Product: "p", AccountID: fmt.Sprintf("%012d", 200000000000+i),
			CustomerIdentifier: fmt.Sprintf("cust-%d", i), Status: metering.StatusSubscribed})
	}
	start := time.Now()
	if err := db.ApplyState(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	t.Logf("applied %d customers in %s", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	got, err := db.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded them in %s", time.Since(start).Round(time.Millisecond))
	if len(got.Customers) != n {
		t.Errorf("loaded %d customers, want %d", len(got.Customers), n)
	}
}
