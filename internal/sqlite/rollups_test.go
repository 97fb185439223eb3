package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/reports"
	"github.com/meterd/meterd/internal/sqlite"
)

// randomRecords are records over a few days around New York's spring
// forward, some with allocations, for comparing rollups with the records.
func randomRecords(n int, seed uint64) []metering.Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	start := time.Date(2026, 3, 7, 0, 0, 0, 0, time.UTC)
	products := []string{"p1", "p2"}
	customers := []struct{ account, identifier, license string }{
		{"111111111111", "cust-1", ""},
		{"222222222222", "cust-2", "arn:aws:license-manager::222222222222:license:l-2"},
		{"333333333333", "", ""},
	}
	dims := []string{"users", "gb", "requests"}
	tagKeys := []string{"env", "team"}
	tagValues := []string{"prod", "dev", "a b"}
	recs := make([]metering.Record, n)
	for i := range recs {
		c := customers[rng.IntN(len(customers))]
		q := int64(rng.IntN(100))
		r := metering.Record{
			ID:                 fmt.Sprintf("id-%d", i),
			Key:                fmt.Sprintf("key-%d", i),
			Fingerprint:        "fp",
			Operation:          "BatchMeterUsage",
			Seller:             "999999999999",
			ProductCode:        products[rng.IntN(len(products))],
			Identity:           metering.IdentityProduct,
			CustomerAccountID:  c.account,
			CustomerIdentifier: c.identifier,
			LicenseArn:         c.license,
			Dimension:          dims[rng.IntN(len(dims))],
			Timestamp:          start.Add(time.Duration(rng.IntN(4*24*3600)) * time.Second),
			Quantity:           q,
			CreatedAt:          start,
		}
		switch rng.IntN(4) {
		case 0: // no allocations
		case 1: // one untagged allocation
			r.Allocations = []metering.Allocation{{Quantity: q, Tags: []metering.Tag{}}}
		default: // split over tag sets, one untagged
			a := q / 3
			r.Allocations = []metering.Allocation{
				{Quantity: a, Tags: []metering.Tag{{Key: tagKeys[0], Value: tagValues[rng.IntN(3)]}, {Key: tagKeys[1], Value: tagValues[rng.IntN(3)]}}},
				{Quantity: a, Tags: []metering.Tag{{Key: tagKeys[0], Value: tagValues[rng.IntN(3)]}}},
				{Quantity: q - 2*a},
			}
		}
		recs[i] = r
	}
	return recs
}

// truth is reports.Fold over the records themselves, tags expanded the
// way the rollup triggers do.
func truth(q reports.RollupQuery, recs []metering.Record) []reports.Sum {
	return reports.Fold(q, func(yield func(int64, reports.Sum)) {
		for _, r := range recs {
			if q.ProductCode != "" && r.ProductCode != q.ProductCode ||
				q.Customer != "" && r.CustomerAccountID != q.Customer && r.CustomerIdentifier != q.Customer && r.LicenseArn != q.Customer ||
				q.Dimension != "" && r.Dimension != q.Dimension {
				continue
			}
			base := reports.Sum{ProductCode: r.ProductCode, CustomerAccountID: r.CustomerAccountID, LicenseArn: r.LicenseArn, Dimension: r.Dimension}
			hour := r.Timestamp.Truncate(time.Hour).Unix()
			if !q.GroupBy.Tag && q.Tag == "" {
				s := base
				s.Quantity, s.Records = r.Quantity, 1
				yield(hour, s)
				continue
			}
			byTag := map[string]int64{}
			if r.Allocations == nil {
				byTag[""] = r.Quantity
			}
			for _, a := range r.Allocations {
				if len(a.Tags) == 0 {
					byTag[""] += a.Quantity
				}
				for _, t := range a.Tags {
					byTag[t.Key+"="+t.Value] += a.Quantity
				}
			}
			for tag, qty := range byTag {
				if q.Tag != "" && tag != q.Tag {
					continue
				}
				s := base
				s.Tag, s.Quantity, s.Records = tag, qty, 1
				yield(hour, s)
			}
		}
	})
}

func sortSums(s []reports.Sum) string {
	lines := make([]string, len(s))
	for i, x := range s {
		lines[i] = fmt.Sprintf("%d %s %s %s %s %q %d %d", x.Bucket, x.ProductCode, x.CustomerAccountID, x.LicenseArn, x.Dimension, x.Tag, x.Quantity, x.Records)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func rollupQueries(t *testing.T) []reports.RollupQuery {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 7, 0, 0, 0, 0, ny).Unix()
	to := time.Date(2026, 3, 11, 0, 0, 0, 0, ny).Unix()
	all := reports.Group{Product: true, Customer: true, License: true, Dimension: true}
	day := func(q reports.RollupQuery) reports.RollupQuery {
		q.Bucket, q.Spans = reports.ByLocalDay, reports.Spans(ny, q.From, q.To)
		return q
	}
	return []reports.RollupQuery{
		{From: from, To: to, GroupBy: all},
		{From: from, To: to, GroupBy: reports.Group{Customer: true, Dimension: true}},
		{From: from, To: to},
		{From: from + 7200, To: to - 7200, GroupBy: all, ProductCode: "p2"},
		{From: from, To: to, GroupBy: all, Customer: "cust-1"},
		{From: from, To: to, GroupBy: all, Customer: "arn:aws:license-manager::222222222222:license:l-2"},
		{From: from, To: to, GroupBy: reports.Group{Customer: true}, Customer: "333333333333", Dimension: "gb"},
		day(reports.RollupQuery{From: from, To: to, GroupBy: all}),
		day(reports.RollupQuery{From: from, To: to, GroupBy: reports.Group{Tag: true, Customer: true}}),
		{From: from, To: to, GroupBy: reports.Group{Tag: true, Dimension: true}},
		{From: from, To: to, GroupBy: reports.Group{Dimension: true}, Tag: "env=prod"},
		{From: from, To: to, GroupBy: reports.Group{Tag: true}, Tag: ""},
	}
}

// rollupState is the reference data of randomRecords: a customer filter
// by identifier or license ARN goes through the customers table.
func rollupState(t *testing.T, db *sqlite.DB) {
	t.Helper()
	st := metering.State{Accounts: []metering.Account{{ID: "999999999999"}}}
	for _, p := range []string{"p1", "p2"} {
		st.Products = append(st.Products, metering.Product{Code: p, Seller: "999999999999", Type: metering.ProductSaaS, Agreements: metering.AgreementsBoth, Dimensions: []string{"users", "gb", "requests"}})
		st.Customers = append(st.Customers,
			metering.Customer{Product: p, AccountID: "111111111111", CustomerIdentifier: "cust-1", Status: metering.StatusSubscribed},
			metering.Customer{Product: p, AccountID: "222222222222", CustomerIdentifier: "cust-2", LicenseArn: "arn:aws:license-manager::222222222222:license:l-2", Status: metering.StatusSubscribed},
			metering.Customer{Product: p, AccountID: "333333333333", Status: metering.StatusSubscribed})
	}
	if err := db.ApplyState(t.Context(), st); err != nil {
		t.Fatal(err)
	}
}

func checkRollups(t *testing.T, db *sqlite.DB, recs []metering.Record) {
	t.Helper()
	for i, q := range rollupQueries(t) {
		var got []reports.Sum
		err := db.UsageRollup(t.Context(), q, func(s reports.Sum) { got = append(got, s) })
		if err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		want := truth(q, recs)
		if len(want) == 0 {
			t.Errorf("query %d matches nothing: a useless check", i)
		}
		if g, w := sortSums(got), sortSums(want); g != w {
			t.Errorf("query %d %+v:\ngot\n%s\nwant\n%s", i, q, g, w)
		}
	}
}

// TestRollups checks that the triggers keep the rollups equal to sums over
// the records, through inserts, repeats of taken keys and deletes.
func TestRollups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := open(t, path)
	defer db.Close()
	rollupState(t, db)
	recs := randomRecords(2000, 1)
	// Some calls, and a repeat of stored keys, which must not count twice.
	for i := 0; i < len(recs); i += 97 {
		if _, err := db.PutRecords(t.Context(), recs[i:min(i+97, len(recs))]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.PutRecords(t.Context(), recs[:50]); err != nil {
		t.Fatal(err)
	}
	checkRollups(t, db, recs)

	// A reset deletes records: the rollups follow.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`DELETE FROM usage_records WHERE CAST(substr(id, 4) AS INTEGER) % 3 = 0`); err != nil {
		t.Fatal(err)
	}
	var kept []metering.Record
	for i, r := range recs {
		if i%3 != 0 {
			kept = append(kept, r)
		}
	}
	checkRollups(t, db, kept)
	if _, err := db.WipeUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := raw.QueryRow(`SELECT (SELECT COUNT(*) FROM usage_rollups) + (SELECT COUNT(*) FROM usage_rollup_tags)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("after a wipe %d rollup rows are left (%v)", n, err)
	}
}

// TestRollupBackfill checks that the migrations fill the rollups from
// records stored before them, in the schema of that time (before
// 00020_compact_usage_records.sql too), and that those records read back
// the same afterwards.
func TestRollupBackfill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	if err := sqlite.MigrateTo(t.Context(), path, 3); err != nil {
		t.Fatal(err)
	}
	recs := randomRecords(500, 2)
	insertLegacy(t, path, recs)
	db := open(t, path)
	defer db.Close()
	rollupState(t, db)
	checkRollups(t, db, recs)

	again := make([]metering.Record, len(recs))
	for i, r := range recs {
		again[i] = r
		again[i].ID = "other"
	}
	got, err := db.PutRecords(t.Context(), again)
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if want := recs[i]; !reflect.DeepEqual(got[i], want) {
			t.Fatalf("record %d read back as\n %+v\nwant\n %+v", i, got[i], want)
		}
	}
}

// insertLegacy stores recs in the usage_records table of migrations
// 00001 to 00003, as meterd before 00010 wrote them.
func insertLegacy(t *testing.T, path string, recs []metering.Record) {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, r := range recs {
		var allocs any
		if r.Allocations != nil {
			allocs = legacyAllocations(r.Allocations)
		}
		_, err := raw.Exec(`INSERT INTO usage_records (key, id, fingerprint, operation, seller, product_code, identity,
	customer_account_id, customer_identifier, license_arn, resource, caller_account_id, access_key_id, client_token,
	dimension, ts, hour, quantity, allocations, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			r.Key, r.ID, r.Fingerprint, r.Operation, r.Seller, r.ProductCode, string(r.Identity),
			r.CustomerAccountID, r.CustomerIdentifier, r.LicenseArn, r.Resource, r.CallerAccountID, r.AccessKeyID, r.ClientToken,
			r.Dimension, r.Timestamp.UnixMilli(), r.Timestamp.Truncate(time.Hour).Unix(), r.Quantity, allocs, r.CreatedAt.UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
	}
}

// legacyAllocations is the allocations' JSON as 00001_init.sql describes
// it.
func legacyAllocations(allocs []metering.Allocation) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, a := range allocs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "[%d", a.Quantity)
		if a.Tags != nil {
			b.WriteString(",[")
			for j, tag := range a.Tags {
				if j > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%q,%q", tag.Key, tag.Value)
			}
			b.WriteByte(']')
		}
		b.WriteByte(']')
	}
	b.WriteByte(']')
	return b.String()
}

func TestHourRecords(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "meterd.db"))
	defer db.Close()
	recs := randomRecords(300, 3)
	if _, err := db.PutRecords(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	hour := recs[0].Timestamp.Truncate(time.Hour)
	for _, customer := range []string{recs[0].CustomerAccountID, recs[0].CustomerIdentifier} {
		if customer == "" {
			continue
		}
		got, err := db.HourRecords(t.Context(), recs[0].ProductCode, customer, hour.Add(30*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, r := range recs {
			if r.ProductCode == recs[0].ProductCode && r.Timestamp.Truncate(time.Hour).Equal(hour) &&
				(r.CustomerAccountID == customer || r.CustomerIdentifier == customer) {
				want = append(want, r.ID)
			}
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
		}
		sort.Strings(ids)
		sort.Strings(want)
		if strings.Join(ids, ",") != strings.Join(want, ",") || len(want) == 0 {
			t.Errorf("customer %s: records %v, want %v", customer, ids, want)
		}
	}
}

// BenchmarkUsageReport measures the report a dashboard asks for most, a
// month of hourly figures by customer and dimension, over rollups worth
// about 10 million records: 90 days of 2 products with 50 customers each
// and 4 dimensions, each customer metering 12 workloads an hour (12 records
// per rollup row, 10,368,000 records), generated with SQL straight into the
// rollup table. Building the database takes a while, so it happens only
// with -bench, once. The month is February (672 hours); sub-benchmarks ask
// for the whole seller (100 customers: 268,800 rows), one product (50
// customers: 134,400 rows) and one customer (2,688 rows), by account id and
// by customer identifier.
func BenchmarkUsageReport(b *testing.B) {
	db := benchDB(b)
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
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := month
			bc.modify(&q)
			var rows []reports.Row
			var err error
			cpu := cpuTime()
			for b.Loop() {
				if rows, err = svc.Usage(b.Context(), q); err != nil {
					b.Fatal(err)
				}
			}
			var recs int64
			for _, r := range rows {
				recs += r.Records
			}
			if c := cpuTime() - cpu; c > 0 {
				b.ReportMetric(float64(c.Microseconds())/1000/float64(b.N), "cpu-ms/op")
			}
			b.ReportMetric(float64(len(rows)), "rows")
			b.ReportMetric(float64(recs), "records")
		})
	}
}

// benchDB builds the benchmark's database in b's temporary directory.
func benchDB(b *testing.B) *sqlite.DB {
	b.Helper()
	const (
		days       = 90
		products   = 2
		customers  = products * 50
		dimensions = 4
		perRow     = 12 // records per rollup row
	)
	path := filepath.Join(b.TempDir(), "bench.db")
	start := time.Now()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", path+"?_journal_mode=WAL&_synchronous=OFF")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	ctx := context.Background()
	exec := func(q string, args ...any) {
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			b.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO accounts (id, name) VALUES ('999999999999', 'seller')`)
	for p := range products {
		exec(`INSERT INTO products (code, seller, type, agreements, dimensions, public_key_versions)
			VALUES (?, '999999999999', 'saas', 'both', '[]', '[]')`, fmt.Sprint("prod-", p))
	}
	// Customer n is account 100000000000+n, identifier cust-n, of product n%2.
	exec(`INSERT INTO customers (product, account_id, customer_identifier, license_arn, status)
		WITH RECURSIVE c(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM c WHERE n < ?)
		SELECT 'prod-' || (n % ?), printf('%012d', 100000000000 + n), 'cust-' || n, '', 'subscribed' FROM c`,
		customers-1, products)
	// Names get ids as usage_rows would give them: products, accounts,
	// identifiers, then dimensions.
	exec(`INSERT INTO usage_names (name)
		WITH RECURSIVE c(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM c WHERE n < ?)
		SELECT 'prod-' || n FROM c WHERE n < ? UNION ALL SELECT printf('%012d', 100000000000 + n) FROM c
		UNION ALL SELECT 'cust-' || n FROM c UNION ALL SELECT 'dim-' || n FROM c WHERE n < ?`,
		customers-1, products, dimensions)
	id := func(name string) (n int64) {
		if err := raw.QueryRowContext(ctx, `SELECT id FROM usage_names WHERE name = ?`, name).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	prod0, acct0, cust0, dim0 := id("prod-0"), id("100000000000"), id("cust-0"), id("dim-0")
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 3600
	for d := range days { // a transaction a day: 9,600 rows
		exec(`INSERT INTO usage_rollups
			(hour, account, dimension, product, identifier, license, quantity, records, tagged_quantity, tagged_records)
			WITH RECURSIVE h(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM h WHERE n < 23),
			c(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM c WHERE n < ?),
			d(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM d WHERE n < ?)
			SELECT ? + h.n, ? + c.n, ? + d.n, ? + (c.n % ?), ? + c.n, 0, ? * (1 + (h.n + c.n + d.n) % 7), ?, 0, 0
			FROM h, c, d ORDER BY 1, 2, 3, 4, 5, 6`,
			customers-1, dimensions-1, first+int64(d)*24, acct0, dim0, prod0, products, cust0, perRow, perRow)
	}
	var rows, recs int64
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*), SUM(records) FROM usage_rollups`).Scan(&rows, &recs); err != nil {
		b.Fatal(err)
	}
	exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	b.Logf("built %d rollup rows worth %d records in %s", rows, recs, time.Since(start).Round(time.Millisecond))
	if db, err = sqlite.Open(context.Background(), path, sqlite.Options{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// TestRollupsLargeNameIDs checks the reports when a name id no longer fits
// in 31 bits, so that they read the ids one to a column.
func TestRollupsLargeNameIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := open(t, path)
	defer db.Close()
	rollupState(t, db)
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`INSERT INTO usage_names (id, name) VALUES (2147483648, 'a large id')`); err != nil {
		t.Fatal(err)
	}
	recs := randomRecords(500, 4)
	if _, err := db.PutRecords(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	var maxID int64
	if err := raw.QueryRow(`SELECT max(id) FROM usage_names`).Scan(&maxID); err != nil || maxID < 1<<31 {
		t.Fatalf("largest name id %d (%v)", maxID, err)
	}
	checkRollups(t, db, recs)
}
