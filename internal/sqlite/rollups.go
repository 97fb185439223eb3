package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/reports"
)

// The rollup tables (migrations/00030_compact_rollups.sql) are kept by
// triggers on usage_rows, inside the group commit's transaction: the Go
// side only reads them.

var _ reports.Store = (*DB)(nil)

// UsageRollup implements reports.Store from the hourly rollups.
//
// SQLite only scans: the rows come in hour order and are summed here, one
// bucket at a time, by name id. Letting SQLite GROUP BY cost a sort
// whenever the grouping was not a prefix of the key, and reading names
// instead of ids cost a string per column per row.
func (db *DB) UsageRollup(ctx context.Context, q reports.RollupQuery, fn func(reports.Sum)) error {
	err := db.usageRollup(ctx, q, fn)
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("sqlite: usage rollup: %w", err)
	}
	return err
}

// rollupKey is a group of a bucket, by name ids; tags keep their text.
type rollupKey struct {
	bucket                               int64
	product, account, license, dimension int64
	tag                                  string
}

type rollupSum struct{ quantity, records int64 }

func (db *DB) usageRollup(ctx context.Context, q reports.RollupQuery, fn func(reports.Sum)) error {
	names := nameReader{db: db, ctx: ctx, ids: map[int64]string{}}
	var (
		args  []any
		where []string
	)
	arg := func(v any) string { // a numbered parameter for v
		args = append(args, v)
		return "?" + strconv.Itoa(len(args))
	}
	// From and To are whole hours; the table counts hours since the epoch.
	firstHour, endHour := q.From/3600, q.To/3600
	where = append(where, "r.hour >= "+arg(firstHour), "r.hour < "+arg(endHour))
	for _, f := range []struct{ name, col string }{{q.ProductCode, "product"}, {q.Dimension, "dimension"}} {
		if f.name == "" {
			continue
		}
		id, ok, err := names.id(f.name)
		if err != nil || !ok { // a name no record uses matches nothing
			return err
		}
		where = append(where, "r."+f.col+" = "+arg(id))
	}
	// A customer is named by account id, identifier or license ARN. The
	// customers table turns the last two into account ids, which the key
	// leads with: the query then seeks to those accounts in each hour
	// instead of reading every customer's rows. Rows of customers without
	// an account id (id 0, the empty name) must also carry the name.
	seek := false
	if q.Customer != "" {
		accounts, err := db.customerAccounts(ctx, q.Customer)
		if err != nil {
			return err
		}
		var ids []string
		for _, a := range accounts {
			id, ok, err := names.id(a)
			if err != nil {
				return err
			}
			if ok {
				ids = append(ids, arg(id))
			}
		}
		if len(ids) == 0 {
			return nil
		}
		self, ok, err := names.id(q.Customer)
		if err != nil {
			return err
		}
		if !ok {
			self = -1
		}
		p := arg(self)
		where = append(where, "r.account IN ("+strings.Join(ids, ", ")+")",
			"(r.account <> 0 OR r.identifier = "+p+" OR r.license = "+p+")")
		seek = true
	}
	g := q.GroupBy
	// Only the columns grouped by are read: each costs a conversion a row.
	var k rollupKey
	cols, ints := []string{"r.hour"}, []*int64{new(int64)}
	for _, c := range []struct {
		on  bool
		col string
		dst *int64
	}{{g.Product, "r.product", &k.product}, {g.Customer, "r.account", &k.account},
		{g.License, "r.license", &k.license}, {g.Dimension, "r.dimension", &k.dimension}} {
		if c.on {
			cols, ints = append(cols, c.col), append(ints, c.dst)
		}
	}
	var qty, recs int64
	// The integer columns, records last, go two to a value ((a << 32) | b)
	// when every id fits in 31 bits, as name ids and hours do: go-sqlite3
	// converts and boxes each column of each row, which was a fifth of a
	// large report's time. qty stays whole: it is a sum.
	ints = append(ints, &recs)
	pack, err := db.namesFit31(ctx)
	if err != nil {
		return err
	}
	read := func(table, tagCol, qtyExpr, recsExpr string, where []string) string {
		c := append(cols[:len(cols):len(cols)], recsExpr)
		var sel []string
		for i := 0; i < len(c); i++ {
			if pack && i+1 < len(c) {
				sel = append(sel, "(("+c[i]+") << 32) | ("+c[i+1]+")")
				i++
				continue
			}
			sel = append(sel, c[i])
		}
		if g.Tag {
			sel = append(sel, tagCol)
		}
		return rollupSQL(strings.Join(append(sel, qtyExpr), ", "), table, where, seek)
	}
	var queries []string
	if g.Tag || q.Tag != "" {
		tagWhere := where
		if q.Tag != "" {
			tagWhere = append(tagWhere[:len(tagWhere):len(tagWhere)], "r.tag = "+arg(q.Tag))
		}
		queries = append(queries, read("usage_rollup_tags", "r.tag", "r.quantity", "r.records", tagWhere))
		if q.Tag == "" {
			// Records without allocations count whole under the tag ''.
			untagged := append(where[:len(where):len(where)], "r.records > r.tagged_records")
			queries = append(queries, read("usage_rollups", "''", "r.quantity - r.tagged_quantity", "r.records - r.tagged_records", untagged))
		}
	} else {
		queries = append(queries, read("usage_rollups", "", "r.quantity", "r.records", where))
	}

	// A bucket's sums, in the order their first row came, and where each
	// key is in it.
	type entry struct {
		k    rollupKey
		sum  rollupSum
		rank [4]int32 // product, account, license, dimension
	}
	var entries []entry
	sums := map[rollupKey]int{}
	// The previous bucket's keys (bucket aside) in the order they came, and
	// their sorted order: the next bucket, when it has the same keys in
	// the same order, as hourly reports' buckets mostly do, reuses it.
	var (
		prevKeys []rollupKey
		perm     []int
	)
	sameKeys := func() bool {
		if len(prevKeys) != len(entries) {
			return false
		}
		for i := range entries {
			k := entries[i].k
			k.bucket = 0
			if k != prevKeys[i] {
				return false
			}
		}
		return true
	}
	// emit gives the sums in the order reports sort rows in, so that the
	// report has nothing left to sort. Names sort by rank, ints compared
	// instead of strings.
	emit := func() error {
		if !sameKeys() {
			for i := range entries {
				k := entries[i].k
				names.see(k.product, k.account, k.license, k.dimension)
			}
			if err := names.rerank(); err != nil {
				return err
			}
			prevKeys, perm = prevKeys[:0], perm[:0]
			for i := range entries {
				e := &entries[i]
				e.rank = [4]int32{names.rank[e.k.product], names.rank[e.k.account], names.rank[e.k.license], names.rank[e.k.dimension]}
				k := e.k
				k.bucket = 0
				prevKeys, perm = append(prevKeys, k), append(perm, i)
			}
			slices.SortFunc(perm, func(x, y int) int {
				a, b := &entries[x], &entries[y]
				for i := range a.rank {
					if a.rank[i] != b.rank[i] {
						return cmp.Compare(a.rank[i], b.rank[i])
					}
				}
				return strings.Compare(a.k.tag, b.k.tag)
			})
		}
		for _, i := range perm {
			e := &entries[i]
			s := reports.Sum{Bucket: e.k.bucket, Tag: e.k.tag, Quantity: e.sum.quantity, Records: e.sum.records}
			if g.Product {
				s.ProductCode = names.ids[e.k.product]
			}
			if g.Customer {
				s.CustomerAccountID = names.ids[e.k.account]
			}
			if g.License {
				s.LicenseArn = names.ids[e.k.license]
			}
			if g.Dimension {
				s.Dimension = names.ids[e.k.dimension]
			}
			fn(s)
		}
		entries = entries[:0]
		clear(sums)
		return nil
	}
	hour := ints[0]
	packed := len(ints)
	if pack {
		packed = (len(ints) + 1) / 2
	}
	width := packed + 1
	if g.Tag {
		width++
	}
	for _, query := range queries {
		n := 0
		err := db.scanRaw(query, args, width, func(v []driver.Value) error {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if pack {
				for i := 0; i < len(ints); i += 2 {
					x := v[i/2].(int64)
					if i+1 < len(ints) {
						*ints[i], *ints[i+1] = x>>32, x&0xffffffff
					} else {
						*ints[i] = x
					}
				}
			} else {
				for i, p := range ints {
					*p = v[i].(int64)
				}
			}
			k.tag = ""
			if g.Tag {
				k.tag = v[packed].(string)
			}
			qty = v[width-1].(int64)
			b := q.BucketOf(*hour * 3600)
			// Rows come in hour order and buckets never go back in time, so
			// a bucket is complete when the next begins. Tag queries read
			// two tables one after the other: they emit at the end.
			if b != k.bucket && len(sums) > 0 && len(queries) == 1 {
				if err := emit(); err != nil {
					return err
				}
			}
			k.bucket = b
			if i, ok := sums[k]; ok {
				entries[i].sum.quantity += qty
				entries[i].sum.records += recs
			} else {
				sums[k] = len(entries)
				entries = append(entries, entry{k: k, sum: rollupSum{qty, recs}})
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(queries) > 1 {
		// Several buckets at once: emit takes one bucket at a time.
		all := slices.Clone(entries)
		slices.SortStableFunc(all, func(a, b entry) int { return cmp.Compare(a.k.bucket, b.k.bucket) })
		for len(all) > 0 {
			n := 1
			for n < len(all) && all[n].k.bucket == all[0].k.bucket {
				n++
			}
			entries = append(entries[:0], all[:n]...)
			if err := emit(); err != nil {
				return err
			}
			all = all[n:]
		}
		return nil
	}
	return emit()
}

// namesFit31 reports whether every usage_names id is below 2^31, so that
// two ids (or an hour, or a count of records) pack into one integer.
func (db *DB) namesFit31(ctx context.Context) (bool, error) {
	var maxID sql.NullInt64
	if err := db.read.QueryRowContext(ctx, `SELECT max(id) FROM usage_names`).Scan(&maxID); err != nil {
		return false, err
	}
	return maxID.Int64 < 1<<31, nil
}

// scanRaw runs a query on a read connection through the driver itself and
// calls row with each row's values: database/sql's locking and conversions
// cost more per row than SQLite's step, for a report's many small rows.
func (db *DB) scanRaw(query string, args []any, width int, row func([]driver.Value) error) error {
	// go-sqlite3 runs every step of a cancellable context's query on a
	// goroutine of its own, which costs more than the step: row checks the
	// caller's context instead.
	ctx := context.Background()
	conn, err := db.read.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		named := make([]driver.NamedValue, len(args))
		for i, a := range args {
			named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		rows, err := dc.(driver.QueryerContext).QueryContext(ctx, query, named)
		if err != nil {
			return err
		}
		defer rows.Close()
		v := make([]driver.Value, width)
		for {
			if err := rows.Next(v); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := row(v); err != nil {
				return err
			}
		}
	})
}

// rollupSQL reads table's rows matching where in hour order: a scan of the
// hour range, or with seek, a lookup in each hour of the range of the
// accounts where names (the key's second column).
func rollupSQL(columns, table string, where []string, seek bool) string {
	cols := "SELECT " + columns
	if !seek {
		return cols + " FROM " + table + " AS r WHERE " + strings.Join(where, " AND ") + " ORDER BY r.hour"
	}
	// where starts with the hour range, parameters ?1 and ?2.
	return "WITH RECURSIVE h(x) AS (SELECT ?1 UNION ALL SELECT x + 1 FROM h WHERE x + 1 < ?2) " +
		cols + " FROM h CROSS JOIN " + table + " AS r ON r.hour = h.x WHERE " + strings.Join(where, " AND ") + " ORDER BY h.x"
}

// customerAccounts returns the account ids a customer filter stands for:
// the customers' whose account id, identifier or license ARN it is, and
// itself (records may name an account the customers table does not).
func (db *DB) customerAccounts(ctx context.Context, customer string) ([]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT account_id FROM customers
WHERE account_id = ?1 OR customer_identifier = ?1 OR license_arn = ?1 UNION SELECT ?1`, customer)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// nameReader maps usage_names ids and names for one read, caching names:
// a report names few distinct products, customers and dimensions.
type nameReader struct {
	db  *DB
	ctx context.Context
	ids map[int64]string
	// rank orders the ids seen by their names; see adds to unranked.
	rank     map[int64]int32
	unranked []int64
}

// id returns name's id, and false when no record uses name.
func (n *nameReader) id(name string) (int64, bool, error) {
	var id int64
	err := n.db.read.QueryRowContext(n.ctx, selectNameSQL, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

func (n *nameReader) see(ids ...int64) {
	for _, id := range ids {
		if _, ok := n.rank[id]; !ok {
			if n.rank == nil {
				n.rank = map[int64]int32{}
			}
			n.rank[id] = -1
			n.unranked = append(n.unranked, id)
		}
	}
}

// rerank reads the names of ids seen since the last rerank and ranks all.
func (n *nameReader) rerank() error {
	if len(n.unranked) == 0 {
		return nil
	}
	for _, id := range n.unranked {
		if _, ok := n.ids[id]; ok {
			continue
		}
		var s string
		if err := n.db.read.QueryRowContext(n.ctx, `SELECT name FROM usage_names WHERE id = ?`, id).Scan(&s); err != nil {
			return err
		}
		n.ids[id] = s
	}
	n.unranked = n.unranked[:0]
	all := slices.Collect(maps.Keys(n.rank))
	slices.SortFunc(all, func(a, b int64) int { return strings.Compare(n.ids[a], n.ids[b]) })
	for i, id := range all {
		n.rank[id] = int32(i)
	}
	return nil
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
