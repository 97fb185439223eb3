package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/pgtest"
	"github.com/meterd/meterd/internal/postgres"
	"github.com/meterd/meterd/internal/reports"
	"github.com/meterd/meterd/internal/reports/reportstest"
)

func TestRollupConformance(t *testing.T) {
	reportstest.RunStoreTests(t, func(t *testing.T) reportstest.Store {
		return open(t, pgtest.NewDatabase(t))
	})
}

// TestRollupBackfill checks that the migration fills the rollups from
// records stored before it, and that repeats of those records add nothing
// afterwards.
func TestRollupBackfill(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	if err := postgres.MigrateTo(t.Context(), dsn, 20); err != nil {
		t.Fatal(err)
	}
	recs := reportstest.Records()
	if err := postgres.InsertRecordsOnly(t.Context(), dsn, recs); err != nil {
		t.Fatal(err)
	}
	db := openClosed(t, dsn)
	state := reportstest.State()
	if err := db.ApplyState(t.Context(), state); err != nil {
		t.Fatal(err)
	}
	reportstest.Check(t, db, state.Customers, recs)
	reportstest.Put(t, db, recs)
	reportstest.Check(t, db, state.Customers, recs)
}

// TestRollupReplicas sends every record to two replicas from four
// goroutines, each in an order of its own, so that group commits on both
// race for every key and every rollup row: each record counts once.
func TestRollupReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	dbs := []*postgres.DB{openClosed(t, dsn), openClosed(t, dsn)}
	state := reportstest.State()
	if err := dbs[0].ApplyState(t.Context(), state); err != nil {
		t.Fatal(err)
	}
	recs := reportstest.Records()
	var (
		mu     sync.Mutex
		stored = map[string]metering.Record{}
		wg     sync.WaitGroup
	)
	errs := make([]error, 4)
	for w := range errs {
		rng := rand.New(rand.NewPCG(uint64(w), 1))
		order := rng.Perm(len(recs))
		wg.Go(func() {
			for len(order) > 0 {
				n := min(len(order), 1+rng.IntN(25))
				call := make([]metering.Record, n)
				for i, k := range order[:n] {
					call[i] = recs[k]
				}
				order = order[n:]
				got, err := dbs[w%2].PutRecords(context.Background(), call)
				if err != nil {
					errs[w] = err
					return
				}
				mu.Lock()
				for _, r := range got {
					if prev, ok := stored[r.Key]; ok && prev.ID != r.ID {
						errs[w] = fmt.Errorf("key %x stored as %s and as %s", r.Key, prev.ID, r.ID)
					}
					stored[r.Key] = r
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(stored) != len(recs) {
		t.Fatalf("%d records stored, want %d", len(stored), len(recs))
	}
	reportstest.Check(t, dbs[1], state.Customers, recs)
	t.Logf("replica a %+v, replica b %+v", dbs[0].Stats(), dbs[1].Stats())
}

// TestRollupFailingCallAlone: calls that fail alone in a group commit (a
// NUL in a dimension, which PostgreSQL refuses, or in a tag, which the
// rollups could not name) add nothing to the rollups; the calls sharing
// their transaction do.
func TestRollupFailingCallAlone(t *testing.T) {
	t.Parallel()
	db := openClosed(t, pgtest.NewDatabase(t))
	const calls = 60
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, calls)
	for i := range calls {
		wg.Go(func() {
			recs := []metering.Record{testRecord(fmt.Sprint("a", i)), testRecord(fmt.Sprint("b", i))}
			switch i % 3 {
			case 1:
				recs[1].Dimension = "bad\x00dimension"
			case 2:
				recs[1].Allocations = []metering.Allocation{{Quantity: 1, Tags: []metering.Tag{{Key: "bad\x00key", Value: "v"}}}}
			}
			<-start
			_, errs[i] = db.PutRecords(context.Background(), recs)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if (i%3 != 0) != (err != nil) {
			t.Errorf("call %d: error %v", i, err)
		}
	}
	want := int64(2 * calls / 3)
	if n := count(t, db); n != want {
		t.Errorf("stored %d records, want %d", n, want)
	}
	hour := testRecord("").Timestamp.Truncate(time.Hour).Unix()
	for _, g := range []reports.Group{{}, {Tag: true}} {
		var got []reports.Sum
		err := db.UsageRollup(t.Context(), reports.RollupQuery{From: hour, To: hour + 3600, GroupBy: g}, func(s reports.Sum) { got = append(got, s) })
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Records != want || got[0].Quantity != want {
			t.Errorf("rollup grouped by [%s]: %+v, want one sum of %d records", g, got, want)
		}
	}
}

// BenchmarkUsageReport is internal/sqlite's benchmark of the same name on
// PostgreSQL: a month of hourly figures by customer and dimension, over
// rollups worth about 10 million records (90 days of 2 products with 50
// customers each and 4 dimensions, 12 records per rollup row: 864,000 rows
// for 10,368,000 records), generated with SQL straight into the rollup
// table. The month is February (672 hours); sub-benchmarks ask for the
// whole seller (268,800 rows), one product (134,400) and one customer
// (2,688), by account id and by customer identifier. The time is the
// report's, reports.Service included; the database server's CPU is not in
// this process.
func BenchmarkUsageReport(b *testing.B) {
	db := openClosed(b, benchReportDB(b))
	svc := reports.New(db)
	from := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	month := reports.Query{From: from, To: from.AddDate(0, 1, 0), Window: reports.Hour,
		GroupBy: reports.Group{Customer: true, Dimension: true}}
	for _, bc := range []struct {
		name   string
		modify func(q *reports.Query)
	}{
		{"seller", func(*reports.Query) {}},
		{"product", func(q *reports.Query) { q.ProductCode = "prod-0" }},
		{"customer", func(q *reports.Query) { q.Customer = fmt.Sprintf("%012d", 100000000007) }},
		{"customer-by-identifier", func(q *reports.Query) { q.Customer = "cust-7" }},
		{"seller-daily", func(q *reports.Query) { q.Window = reports.Day; q.Location = time.FixedZone("", -5*3600) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := month
			bc.modify(&q)
			var rows []reports.Row
			var err error
			for b.Loop() {
				if rows, err = svc.Usage(b.Context(), q); err != nil {
					b.Fatal(err)
				}
			}
			var recs int64
			for _, r := range rows {
				recs += r.Records
			}
			b.ReportMetric(float64(len(rows)), "rows")
			b.ReportMetric(float64(recs), "records")
		})
	}
}

// benchReportDB builds the benchmark's database and returns its DSN.
func benchReportDB(b *testing.B) string {
	b.Helper()
	const (
		days       = 90
		products   = 2
		customers  = products * 50
		dimensions = 4
		perRow     = 12 // records per rollup row
	)
	start := time.Now()
	dsn := pgtest.NewDatabase(b)
	if _, err := postgres.Migrate(b.Context(), dsn, postgres.Options{}); err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(b.Context(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	exec := func(q string, args ...any) {
		if _, err := conn.Exec(b.Context(), q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO accounts (id, name) VALUES ('999999999999', 'seller')`)
	exec(`INSERT INTO products (code, seller, type, agreements, dimensions, public_key_versions)
		SELECT 'prod-' || p, '999999999999', 'saas', 'both', '{}', '{}' FROM generate_series(0, $1 - 1) AS p`, products)
	// Customer n is account 100000000000+n, identifier cust-n, of product n%2.
	exec(`INSERT INTO customers (product, account_id, customer_identifier, license_arn, status)
		SELECT 'prod-' || (n % $2), (100000000000 + n)::text, 'cust-' || n, '', 'subscribed' FROM generate_series(0, $1 - 1) AS n`,
		customers, products)
	// Names in no particular order, as traffic brings them ('' is there
	// from the migration).
	exec(`INSERT INTO usage_names (name) SELECT n FROM (
		SELECT code FROM products UNION ALL SELECT account_id FROM customers
		UNION ALL SELECT customer_identifier FROM customers UNION ALL SELECT 'dim-' || d FROM generate_series(0, $1 - 1) AS d
		) AS x(n) ORDER BY md5(n)`, dimensions)
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 3600
	exec(`INSERT INTO usage_hourly (hour, account, dimension, product, identifier, license, quantity, records,
			untagged_quantity, untagged_records)
		SELECT h, a.id, d.id, p.id, i.id, e.id, $5 * (1 + (h % 24 + c + dn) % 7), $5, $5 * (1 + (h % 24 + c + dn) % 7), $5
		FROM generate_series($1::integer, $1::integer + $2 * 24 - 1) AS h,
			generate_series(0, $3 - 1) AS c,
			generate_series(0, $4 - 1) AS dn,
			LATERAL (SELECT id FROM usage_names WHERE name = (100000000000 + c)::text) AS a,
			LATERAL (SELECT id FROM usage_names WHERE name = 'dim-' || dn) AS d,
			LATERAL (SELECT id FROM usage_names WHERE name = 'prod-' || (c % $6)) AS p,
			LATERAL (SELECT id FROM usage_names WHERE name = 'cust-' || c) AS i,
			(SELECT id FROM usage_names WHERE name = '') AS e
		ORDER BY 1, 2, 3, 4, 5, 6`, first, days, customers, dimensions, perRow, products)
	exec(`VACUUM ANALYZE usage_hourly`)
	exec(`VACUUM ANALYZE usage_names`)
	exec(`VACUUM ANALYZE customers`)
	var rows, recs int64
	if err := conn.QueryRow(b.Context(), `SELECT count(*), sum(records) FROM usage_hourly`).Scan(&rows, &recs); err != nil {
		b.Fatal(err)
	}
	var size string
	if err := conn.QueryRow(b.Context(), `SELECT pg_size_pretty(pg_total_relation_size('usage_hourly'))`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d rollup rows worth %d records (%s with indexes) in %s", rows, recs, size, time.Since(start).Round(time.Millisecond))
	return dsn
}
