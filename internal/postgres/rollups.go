package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/reports"
)

// The rollup tables (migrations/00031_usage_rollups.sql) are kept by the
// group committer: it sums the records a transaction inserted (repeats of
// stored keys add nothing) and upserts each table with one statement, in
// that transaction. Doing it in Go rather than with a trigger costs the
// database one statement per batch instead of two per record.

var _ reports.Store = (*DB)(nil)

// rollupKey is a row of usage_hourly, by name; tag is "" there.
type rollupKey struct {
	hour                                                  int32 // hours since the Unix epoch
	product, account, identifier, license, dimension, tag string
}

// rollupSum is what a rollup row adds up; the untagged figures are
// usage_hourly's only.
type rollupSum struct {
	quantity, records                 int64
	untaggedQuantity, untaggedRecords int64
}

// rollupBatch sums the records one transaction inserts, by rollup row.
type rollupBatch struct {
	hourly map[rollupKey]*rollupSum
	tags   map[rollupKey]*rollupSum
	tagBuf []tagQuantity
}

type tagQuantity struct {
	tag      string
	quantity int64
}

// add counts r, a record the transaction inserted.
func (b *rollupBatch) add(r metering.Record) {
	if b.hourly == nil {
		b.hourly, b.tags = map[rollupKey]*rollupSum{}, map[rollupKey]*rollupSum{}
	}
	k := rollupKey{
		hour:    int32(r.Timestamp.UTC().Truncate(time.Hour).Unix() / 3600),
		product: r.ProductCode, account: r.CustomerAccountID, identifier: r.CustomerIdentifier,
		license: r.LicenseArn, dimension: r.Dimension,
	}
	h := b.hourly[k]
	if h == nil {
		h = &rollupSum{}
		b.hourly[k] = h
	}
	h.quantity += r.Quantity
	h.records++

	// Usage under the tag "" stays in usage_hourly (most usage has no
	// tags, and so costs one upsert, not two); each other tag gets the
	// record's quantity under it once, however many of its allocations
	// carry it.
	untagged, hasUntagged := int64(0), r.Allocations == nil
	if hasUntagged {
		untagged = r.Quantity
	}
	tags := b.tagBuf[:0]
	for _, a := range r.Allocations {
		if len(a.Tags) == 0 {
			untagged, hasUntagged = untagged+a.Quantity, true
		}
	next:
		for _, t := range a.Tags {
			tag := t.Key + "=" + t.Value
			for i := range tags {
				if tags[i].tag == tag {
					tags[i].quantity += a.Quantity
					continue next
				}
			}
			tags = append(tags, tagQuantity{tag, a.Quantity})
		}
	}
	if hasUntagged {
		h.untaggedQuantity += untagged
		h.untaggedRecords++
	}
	for _, t := range tags {
		k.tag = t.tag
		if s, ok := b.tags[k]; ok {
			s.quantity += t.quantity
			s.records++
		} else {
			b.tags[k] = &rollupSum{quantity: t.quantity, records: 1}
		}
	}
	b.tagBuf = tags
}

// checkRollupNames refuses records whose tags the rollups cannot name: tag
// keys and values become text of their own there, which PostgreSQL refuses
// with a NUL or invalid UTF-8, while the record's allocations, escaped as
// JSON, would be stored. Refusing the call up front makes it fail alone
// instead of failing the whole group commit. (The service's validation
// never lets such tags through.)
func checkRollupNames(recs []metering.Record) error {
	for i, r := range recs {
		for _, a := range r.Allocations {
			for _, t := range a.Tags {
				if !utf8.ValidString(t.Key) || !utf8.ValidString(t.Value) || strings.IndexByte(t.Key, 0) >= 0 || strings.IndexByte(t.Value, 0) >= 0 {
					return fmt.Errorf("postgres: record %d: tag %q=%q is not valid text", i, t.Key, t.Value)
				}
			}
		}
	}
	return nil
}

const (
	upsertHourlySQL = `INSERT INTO usage_hourly AS u (hour, account, dimension, product, identifier, license,
	quantity, records, untagged_quantity, untagged_records)
SELECT * FROM unnest($1::integer[], $2::integer[], $3::integer[], $4::integer[], $5::integer[], $6::integer[],
	$7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])
ON CONFLICT (hour, account, dimension, product, identifier, license)
DO UPDATE SET quantity = u.quantity + excluded.quantity, records = u.records + excluded.records,
	untagged_quantity = u.untagged_quantity + excluded.untagged_quantity,
	untagged_records = u.untagged_records + excluded.untagged_records`

	upsertTagsSQL = `INSERT INTO usage_hourly_tags AS u (hour, account, dimension, tag, product, identifier, license, quantity, records)
SELECT * FROM unnest($1::integer[], $2::integer[], $3::integer[], $4::integer[], $5::integer[], $6::integer[], $7::integer[], $8::bigint[], $9::bigint[])
ON CONFLICT (hour, account, dimension, tag, product, identifier, license)
DO UPDATE SET quantity = u.quantity + excluded.quantity, records = u.records + excluded.records`

	// Names go in in sorted order, so that two replicas adding the same
	// new names cannot deadlock on them.
	insertNamesSQL = `INSERT INTO usage_names (name) SELECT n FROM unnest($1::text[]) AS n ORDER BY n ON CONFLICT (name) DO NOTHING`
	selectNamesSQL = `SELECT id, name FROM usage_names WHERE name = ANY($1::text[])`
)

// writeRollups upserts b's sums in tx. It returns the names it looked up,
// for the cache once tx has committed: ids of names inserted by a
// transaction that rolls back must not be remembered.
func (db *DB) writeRollups(ctx context.Context, tx pgx.Tx, b *rollupBatch) (map[string]int32, error) {
	if len(b.hourly) == 0 {
		return nil, nil
	}
	// The names of every row: the hourly rows' own (the tag rows repeat
	// them, but a record whose allocations are an empty list has no tag
	// rows) and the tags.
	var names []string
	for k := range b.hourly {
		names = append(names, k.product, k.account, k.identifier, k.license, k.dimension)
	}
	for k := range b.tags {
		names = append(names, k.tag)
	}
	ids, missing := db.names.ids(names)
	var looked map[string]int32
	if len(missing) > 0 {
		// Two statements: the select's snapshot, taken after the insert
		// has waited out any other transaction inserting the same names,
		// sees them all.
		slices.Sort(missing)
		missing = slices.Compact(missing)
		batch := &pgx.Batch{}
		batch.Queue(insertNamesSQL, missing)
		batch.Queue(selectNamesSQL, missing)
		br := tx.SendBatch(ctx, batch)
		if _, err := br.Exec(); err != nil {
			br.Close()
			return nil, fmt.Errorf("rollup names: %w", err)
		}
		rows, _ := br.Query()
		looked = make(map[string]int32, len(missing))
		var (
			id   int32
			name string
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error {
			looked[name], ids[name] = id, id
			return nil
		})
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("rollup names: %w", err)
		}
		for _, n := range missing {
			if _, ok := looked[n]; !ok {
				return nil, fmt.Errorf("rollup names: %q is stored nowhere", n)
			}
		}
	}

	type row struct {
		key [7]int32 // hour, account, dimension, tag, product, identifier, license
		sum *rollupSum
	}
	rowsOf := func(m map[rollupKey]*rollupSum) []row {
		out := make([]row, 0, len(m))
		for k, s := range m {
			out = append(out, row{[7]int32{k.hour, ids[k.account], ids[k.dimension], ids[k.tag], ids[k.product], ids[k.identifier], ids[k.license]}, s})
		}
		// In primary key order: replicas committing at once lock the rows
		// they share in the same order, and so cannot deadlock on them.
		slices.SortFunc(out, func(a, b row) int {
			for i := range a.key {
				if c := cmp.Compare(a.key[i], b.key[i]); c != 0 {
					return c
				}
			}
			return 0
		})
		return out
	}
	columns := func(rows []row, untagged bool, cols ...int) []any {
		out := make([]any, 0, len(cols)+4)
		for _, c := range cols {
			col := make([]int32, len(rows))
			for i, r := range rows {
				col[i] = r.key[c]
			}
			out = append(out, col)
		}
		q, n := make([]int64, len(rows)), make([]int64, len(rows))
		for i, r := range rows {
			q[i], n[i] = r.sum.quantity, r.sum.records
		}
		out = append(out, q, n)
		if untagged {
			q, n := make([]int64, len(rows)), make([]int64, len(rows))
			for i, r := range rows {
				q[i], n[i] = r.sum.untaggedQuantity, r.sum.untaggedRecords
			}
			out = append(out, q, n)
		}
		return out
	}
	batch := &pgx.Batch{}
	batch.Queue(upsertHourlySQL, columns(rowsOf(b.hourly), true, 0, 1, 2, 4, 5, 6)...)
	if len(b.tags) > 0 {
		batch.Queue(upsertTagsSQL, columns(rowsOf(b.tags), false, 0, 1, 2, 3, 4, 5, 6)...)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, fmt.Errorf("rollups: %w", err)
	}
	return looked, nil
}

// nameCache remembers usage_names ids, which never change once committed.
// It forgets everything when it grows past maxNames, which only many
// distinct tag values or license ARNs make it do.
type nameCache struct {
	mu     sync.RWMutex
	byName map[string]int32
	byID   map[int32]string
	// ranks orders the ids by name, for reports to sort by: built when a
	// report needs it, dropped when names come.
	ranks map[int32]uint32
	// loaded says that every name committed before some moment is known,
	// so that names a report meets are nearly all known: commits alone
	// only teach a replica the names it writes.
	loaded bool
}

const maxNames = 1 << 18

// ids returns the ids known for names and the names not known.
func (c *nameCache) ids(names []string) (ids map[string]int32, missing []string) {
	ids = make(map[string]int32, len(names))
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, n := range names {
		if _, ok := ids[n]; ok {
			continue
		}
		if id, ok := c.byName[n]; ok {
			ids[n] = id
		} else {
			missing = append(missing, n)
		}
	}
	return ids, missing
}

// name returns the name of id, if known.
func (c *nameCache) name(id int32) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.byID[id]
	return n, ok
}

// add remembers committed names.
func (c *nameCache) add(m map[string]int32) {
	if len(m) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byName == nil || len(c.byName)+len(m) > maxNames {
		c.byName, c.byID = make(map[string]int32, len(m)), make(map[int32]string, len(m))
		c.loaded = false
	}
	for n, id := range m {
		c.byName[n], c.byID[id] = id, n
	}
	c.ranks = nil
}

// ranked returns the rank of every known id's name among all known names.
// The map is never changed once returned.
func (c *nameCache) ranked() map[int32]uint32 {
	c.mu.RLock()
	ranks := c.ranks
	c.mu.RUnlock()
	if ranks != nil {
		return ranks
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ranks == nil {
		ids := make([]int32, 0, len(c.byID))
		for id := range c.byID {
			ids = append(ids, id)
		}
		slices.SortFunc(ids, func(a, b int32) int { return strings.Compare(c.byID[a], c.byID[b]) })
		c.ranks = make(map[int32]uint32, len(ids))
		for i, id := range ids {
			c.ranks[id] = uint32(i)
		}
	}
	return c.ranks
}

// resolveFiltersSQL turns a report's filters into usage_names ids: NULL
// for a name no rollup row holds. A customer is an account id, or an
// identifier or license ARN that the customers table gives an account;
// its usage is that account's.
const resolveFiltersSQL = `SELECT
	(SELECT id FROM usage_names WHERE name = $1::text),
	(SELECT array_agg(id) FROM usage_names WHERE name IN (
		SELECT account_id FROM customers WHERE account_id = $2::text OR customer_identifier = $2::text OR license_arn = $2::text
		UNION SELECT $2::text)),
	(SELECT id FROM usage_names WHERE name = $3::text),
	(SELECT id FROM usage_names WHERE name = $4::text)`

// UsageRollup implements reports.Store from the hourly rollups: the tag
// table when the query filters by tag, the tag table and usage_hourly's
// untagged figures (the tag "") when it groups by tag, usage_hourly
// otherwise.
//
// Filters are turned into ids first, by a query of their own, and the ids
// written into the report's query as literals (integers from the
// database, never user text): the planner then sees them and picks the
// customer or product index for what they select, and a statement cached
// for one customer is not planned generically for the next.
func (db *DB) UsageRollup(ctx context.Context, q reports.RollupQuery, fn func(reports.Sum)) error {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	if q.From >= q.To {
		return nil
	}
	where := []string{
		"hour >= " + strconv.FormatInt(ceilDiv(q.From, 3600), 10),
		"hour < " + strconv.FormatInt(ceilDiv(q.To, 3600), 10),
	}
	if q.ProductCode != "" || q.Customer != "" || q.Dimension != "" || q.Tag != "" {
		var product, dim, tag *int32
		var accounts []int32
		err := db.pool.QueryRow(ctx, resolveFiltersSQL, q.ProductCode, q.Customer, q.Dimension, q.Tag).Scan(&product, &accounts, &dim, &tag)
		if err != nil {
			return fmt.Errorf("postgres: usage rollup: %w", err)
		}
		for _, f := range []struct {
			set  bool
			col  string
			ids  []int32
			none bool
		}{
			{q.ProductCode != "", "product", one(product), product == nil},
			{q.Customer != "", "account", accounts, len(accounts) == 0},
			{q.Dimension != "", "dimension", one(dim), dim == nil},
			{q.Tag != "", "tag", one(tag), tag == nil},
		} {
			if !f.set {
				continue
			}
			if f.none {
				return nil // a name no rollup holds: no usage
			}
			where = append(where, f.col+" IN ("+joinInts(f.ids)+")")
		}
	}
	bucket := "hour"
	if q.Bucket == reports.ByLocalDay {
		bucket = "(hour::bigint * 3600 + " + offsetSQL(q.Spans) + ") / 86400"
	}
	// Grouped columns in the primary key's order, so that a grouping that
	// is a prefix of it aggregates as the range is read.
	type column struct {
		on   bool
		name string
		dest int // which Sum field it fills
	}
	var cols []column
	for _, c := range []column{
		{q.GroupBy.Customer, "account", 1},
		{q.GroupBy.Dimension, "dimension", 3},
		{q.GroupBy.Tag, "tag", 4},
		{q.GroupBy.Product, "product", 0},
		{q.GroupBy.License, "license", 2},
	} {
		if c.on {
			cols = append(cols, c)
		}
	}
	sel, group := []string{bucket}, []string{"1"}
	for i, c := range cols {
		sel = append(sel, c.name)
		group = append(group, strconv.Itoa(i+2))
	}
	cond := strings.Join(where, " AND ")
	from := "usage_hourly WHERE " + cond
	switch {
	case q.Tag != "":
		from = "usage_hourly_tags WHERE " + cond
	case q.GroupBy.Tag:
		from = `(SELECT hour, account, dimension, tag, product, license, quantity, records FROM usage_hourly_tags WHERE ` + cond + `
	UNION ALL
	SELECT hour, account, dimension, (SELECT id FROM usage_names WHERE name = ''), product, license, untagged_quantity, untagged_records
	FROM usage_hourly WHERE ` + cond + ` AND untagged_records > 0) AS u`
	}
	sql := "SELECT " + strings.Join(sel, ", ") + ", usage_sum(quantity), usage_sum(records) FROM " + from +
		" GROUP BY " + strings.Join(group, ", ")
	if q.Bucket == reports.ByHour {
		// Free: the primary key gives the range by hour.
		sql += " ORDER BY 1"
	}

	var (
		bucketVal int64
		keys      = make([]int32, len(cols))
		s         reports.Sum
		// Sums naming an id the cache does not know wait for the end,
		// when one query names them all: the connection is busy until
		// then.
		pending []pendingSum
		// The names this query met, so that each row costs map lookups
		// and no lock.
		local = map[int32]string{}
	)
	name := func(id int32) (string, bool) {
		if n, ok := local[id]; ok {
			return n, true
		}
		n, ok := db.names.name(id)
		if ok {
			local[id] = n
		}
		return n, ok
	}
	dst := []any{&bucketVal}
	for i := range keys {
		dst = append(dst, &keys[i])
	}
	dst = append(dst, &s.Quantity, &s.Records)
	if !db.names.isLoaded() {
		if err := db.loadNames(ctx, nil); err != nil {
			return err
		}
	}
	// Sums go out by bucket and within a bucket in the order of
	// reports.Keys, by name: in the order of the report's rows, so that
	// reports.Service has nothing left to sort. Ids are not in name order,
	// so sums are sorted here, by the ranks of their names among all
	// names, which compare as integers: hours one at a time, as the query
	// gives them in order; days, which a hash aggregate gives in no order
	// (sorting its input would cost more), all at the end.
	ranks := db.names.ranked()
	var (
		bucketSums   []reports.Sum
		ranked, prev []rankKey // the ranks of bucketSums, and of the bucket before
		perm         []int     // the order to give bucketSums in
	)
	flush := func() {
		// Hour after hour mostly holds the same groups, which come in
		// the same (primary key) order: their order by name is then the
		// one found for the hour before.
		if q.Bucket != reports.ByHour || !slices.Equal(ranked, prev) {
			perm = perm[:0]
			for i := range ranked {
				perm = append(perm, i)
			}
			slices.SortFunc(perm, func(a, b int) int {
				if c := cmp.Compare(bucketSums[a].Bucket, bucketSums[b].Bucket); c != 0 {
					return c
				}
				return compareRanks(ranked[a], ranked[b])
			})
			ranked, prev = prev, ranked
		}
		for _, i := range perm {
			fn(bucketSums[i])
		}
		bucketSums, ranked = bucketSums[:0], ranked[:0]
	}
	rows, _ := db.pool.Query(ctx, sql)
	_, err := pgx.ForEachRow(rows, dst, func() error {
		if q.Bucket == reports.ByHour {
			bucketVal *= 3600
		}
		if q.Bucket == reports.ByHour && len(bucketSums) > 0 && bucketSums[0].Bucket != bucketVal {
			flush()
		}
		s.Bucket = bucketVal
		var key rankKey
		known := true
		for i, c := range cols {
			n, ok := name(keys[i])
			r, rok := ranks[keys[i]]
			if !ok || !rok {
				known = false
				break
			}
			setKey(&s, c.dest, n)
			key[c.dest] = r // setKey numbers fields in reports.Keys order
		}
		if !known {
			p := pendingSum{sum: s}
			copy(p.ids[:], keys)
			pending = append(pending, p)
			return nil
		}
		bucketSums, ranked = append(bucketSums, s), append(ranked, key)
		return nil
	})
	if err == nil {
		flush()
	}
	if err != nil {
		return fmt.Errorf("postgres: usage rollup: %w", err)
	}
	if len(pending) == 0 {
		return nil
	}
	var unknown []int32
	for _, p := range pending {
		unknown = append(unknown, p.ids[:len(cols)]...)
	}
	if err := db.loadNames(ctx, unknown); err != nil {
		return err
	}
	for _, p := range pending {
		for i, c := range cols {
			n, ok := name(p.ids[i])
			if !ok {
				return fmt.Errorf("postgres: usage rollup: name %d is stored nowhere", p.ids[i])
			}
			setKey(&p.sum, c.dest, n)
		}
		fn(p.sum)
	}
	return nil
}

// rankKey is the ranks of a sum's names, in reports.Keys order.
type rankKey [5]uint32

func compareRanks(a, b rankKey) int {
	for i := range a {
		if c := cmp.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// pendingSum is a sum whose key names are not known yet: ids holds the
// grouped columns' ids, in the query's order.
type pendingSum struct {
	sum reports.Sum
	ids [5]int32
}

func setKey(s *reports.Sum, dest int, name string) {
	switch dest {
	case 0:
		s.ProductCode = name
	case 1:
		s.CustomerAccountID = name
	case 2:
		s.LicenseArn = name
	case 3:
		s.Dimension = name
	case 4:
		s.Tag = name
	}
}

func (c *nameCache) markLoaded() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loaded = true
}

// isLoaded reports whether the cache was loaded whole since it last
// forgot.
func (c *nameCache) isLoaded() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.loaded
}

// loadNames reads the names of ids into the cache; nil reads them all.
func (db *DB) loadNames(ctx context.Context, ids []int32) error {
	sql, args := `SELECT id, name FROM usage_names`, []any{}
	if ids != nil {
		sql, args = sql+` WHERE id = ANY($1::integer[])`, []any{ids}
	}
	rows, _ := db.pool.Query(ctx, sql, args...)
	m := map[string]int32{}
	var (
		id   int32
		name string
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error {
		m[name] = id
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: usage rollup names: %w", err)
	}
	db.names.add(m)
	if ids == nil {
		db.names.markLoaded()
	}
	return nil
}

func one(id *int32) []int32 {
	if id == nil {
		return nil
	}
	return []int32{*id}
}

func joinInts(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(int64(id), 10)
	}
	return strings.Join(s, ", ")
}

func ceilDiv(a, b int64) int64 {
	d := a / b
	if a%b != 0 && (a < 0) == (b < 0) {
		d++
	}
	return d
}

// offsetSQL is the UTC offset in force at each hour, in seconds: a CASE
// over the spans, whose values are integers computed here, never user
// text. A span may start mid-hour (Lord Howe's half-hour shifts); an hour
// takes the offset in force at its start.
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
		fmt.Fprintf(&b, " WHEN hour < %d THEN %d", ceilDiv(spans[i].Start, 3600), spans[i-1].Offset)
	}
	fmt.Fprintf(&b, " ELSE %d END", spans[len(spans)-1].Offset)
	return b.String()
}
