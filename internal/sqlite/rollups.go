package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/reports"
)

// The rollup tables (migrations/00010_usage_rollups.sql) are kept by
// triggers on usage_records, inside the group commit's transaction: the Go
// side only reads them.

var _ reports.Store = (*DB)(nil)

// UsageRollup implements reports.Store from the hourly rollups: the tag
// table when the query groups or filters by tag, the plain one otherwise.
func (db *DB) UsageRollup(ctx context.Context, q reports.RollupQuery, fn func(reports.Sum)) error {
	table := "usage_hourly"
	if q.GroupBy.Tag || q.Tag != "" {
		table = "usage_hourly_tags"
	}
	bucket := "hour"
	if q.Bucket == reports.ByLocalDay {
		bucket = "(hour + " + offsetSQL(q.Spans) + ") / 86400"
	}
	var (
		cols  []string // grouped key columns, in reports.Sum order
		dests []int    // which Sum field each fills
	)
	// In the primary key's order, so that SQLite aggregates as it scans
	// when the grouping is a prefix of the key.
	for _, c := range []struct {
		on   bool
		col  string
		dest int
	}{
		{q.GroupBy.Customer, "customer_account_id", 1},
		{q.GroupBy.Dimension, "dimension", 3},
		{q.GroupBy.Tag, "tag", 4},
		{q.GroupBy.Product, "product_code", 0},
		{q.GroupBy.License, "license_arn", 2},
	} {
		if c.on {
			cols, dests = append(cols, c.col), append(dests, c.dest)
		}
	}
	var args []any
	arg := func(v any) string { // a numbered parameter for v
		args = append(args, v)
		return "?" + strconv.Itoa(len(args))
	}
	where := []string{"hour >= " + arg(q.From), "hour < " + arg(q.To)}
	if q.ProductCode != "" {
		where = append(where, "product_code = "+arg(q.ProductCode))
	}
	if q.Customer != "" {
		// The customers table turns an identifier or license ARN into the
		// account id the customer index is on. (Matching the rollups'
		// own identifier and license columns too would cost a scan of
		// the whole range: they are not indexed, and a customer's
		// identifier does not change.)
		where = append(where, fmt.Sprintf(`customer_account_id IN (SELECT account_id FROM customers WHERE account_id = %[1]s OR customer_identifier = %[1]s OR license_arn = %[1]s UNION ALL SELECT %[1]s)`, arg(q.Customer)))
	}
	if q.Dimension != "" {
		where = append(where, "dimension = "+arg(q.Dimension))
	}
	if q.Tag != "" {
		where = append(where, "tag = "+arg(q.Tag))
	}
	groupBy := append([]string{"b"}, cols...)
	sel := append([]string{bucket + " AS b"}, cols...)
	query := "SELECT " + strings.Join(sel, ", ") + ", SUM(quantity), SUM(records) FROM " + table +
		" WHERE " + strings.Join(where, " AND ") + " GROUP BY " + strings.Join(groupBy, ", ")
	// go-sqlite3 runs every step of a cancellable context's query on a
	// goroutine of its own, which costs more than the step; the loop
	// below checks ctx instead.
	rows, err := db.read.QueryContext(context.WithoutCancel(ctx), query, args...)
	if err != nil {
		return fmt.Errorf("sqlite: usage rollup: %w", err)
	}
	defer rows.Close()
	// Keys repeat from row to row: read them as raw bytes and keep one
	// string per distinct value.
	interned := map[string]string{}
	intern := func(b sql.RawBytes) string {
		if s, ok := interned[string(b)]; ok {
			return s
		}
		s := string(b)
		interned[s] = s
		return s
	}
	keys := make([]sql.RawBytes, len(cols))
	var s reports.Sum
	dst := []any{&s.Bucket}
	for i := range keys {
		dst = append(dst, &keys[i])
	}
	dst = append(dst, &s.Quantity, &s.Records)
	for n := 0; rows.Next(); n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := rows.Scan(dst...); err != nil {
			return fmt.Errorf("sqlite: usage rollup: %w", err)
		}
		for i, d := range dests {
			switch k := intern(keys[i]); d {
			case 0:
				s.ProductCode = k
			case 1:
				s.CustomerAccountID = k
			case 2:
				s.LicenseArn = k
			case 3:
				s.Dimension = k
			case 4:
				s.Tag = k
			}
		}
		fn(s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: usage rollup: %w", err)
	}
	return nil
}

// offsetSQL is the UTC offset in force at each hour: a CASE over the spans,
// whose values are integers computed here, never user text.
func offsetSQL(spans []reports.Span) string {
	if len(spans) == 0 {
		return "0"
	}
	if len(spans) == 1 {
		return strconv.FormatInt(spans[0].Offset, 10)
	}
	var b strings.Builder
	b.WriteString("CASE")
	for i := 1; i < len(spans); i++ {
		fmt.Fprintf(&b, " WHEN hour < %d THEN %d", spans[i].Start, spans[i-1].Offset)
	}
	fmt.Fprintf(&b, " ELSE %d END", spans[len(spans)-1].Offset)
	return b.String()
}

// HourRecords returns the records of one product and customer (account id,
// customer identifier or license ARN) for the UTC hour that contains hour,
// oldest first, for the record debugger.
func (db *DB) HourRecords(ctx context.Context, product, customer string, hour time.Time) ([]metering.Record, error) {
	// The rowid range is the hour's part of usage_rows, which is
	// clustered by hour (00020_compact_usage_records.sql).
	h := hourOf(hour)
	rows, err := db.read.QueryContext(ctx, selectRecordSQL+`
WHERE rowid >= ?3 AND rowid < ?4 AND product_code = ?1 AND ?2 <> '' AND (customer_account_id = ?2 OR customer_identifier = ?2 OR license_arn = ?2)
ORDER BY ts, rowid LIMIT 10000`, product, customer, h<<hourRowidShift, (h+1)<<hourRowidShift)
	if err != nil {
		return nil, fmt.Errorf("sqlite: hour records: %w", err)
	}
	defer rows.Close()
	out := []metering.Record{}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: hour records: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: hour records: %w", err)
	}
	return out, nil
}
