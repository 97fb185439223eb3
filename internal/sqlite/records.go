package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/meterd/meterd/internal/groupcommit"
	"github.com/meterd/meterd/internal/metering"
)

const (
	// insertRecordSQL inserts one record into usage_rows
	// (migrations/00020_compact_usage_records.sql); encodeRow and the
	// committer lay out its arguments. The committer inserts only records
	// whose key it found nowhere (keys.go). RETURNING makes it a query,
	// which go-sqlite3 binds and steps in one cgo call instead of one per
	// argument.
	insertRecordSQL = `INSERT INTO usage_rows (
	rowid, key, id, fingerprint, operation, identity, seller, product, account, identifier,
	license, resource, caller, access_key, client_token, dimension, ts, quantity, allocations, created_at
) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
RETURNING rowid`

	// selectRecordSQL reads records, names and all, through the
	// usage_records view.
	selectRecordSQL = `SELECT
	key, id, fingerprint, operation, seller, product_code, identity,
	customer_account_id, customer_identifier, license_arn, resource,
	caller_account_id, access_key_id, client_token,
	dimension, ts, quantity, allocations, created_at
FROM usage_records`

	selectNameSQL  = `SELECT id FROM usage_names WHERE name = ?`
	insertNameSQL  = `INSERT INTO usage_names (name) VALUES (?) RETURNING id`
	lastRowSQL     = `SELECT max(rowid) FROM usage_rows WHERE rowid >= ? AND rowid < ?`
	hourRowidShift = 32
)

// insertArgs is the number of insertRecordSQL's arguments; nameArgs are
// those that hold usage_names ids, in encodedRow.names order.
const insertArgs = 20

var nameArgs = [...]int{4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15}

// encodedRow is a record laid out for insertRecordSQL by its caller's
// goroutine, so that the committer, which runs alone, only adds what only
// it can: the rowid and the ids of names.
type encodedRow struct {
	vals  [insertArgs]driver.Value
	names [len(nameArgs)]string
	hour  int64
}

func encodeRow(r *metering.Record) (encodedRow, error) {
	var e encodedRow
	allocs, err := encodeAllocations(r.Allocations)
	if err != nil {
		return e, err
	}
	e.hour = hourOf(r.Timestamp)
	// Ids derived from the key take no bytes (00032_compact_times.sql);
	// times count from the hour in the rowid and from ts.
	id := compactUUID(r.ID)
	if len(r.Key) == metering.KeySize && r.ID == metering.RecordID(r.Key) {
		id = []byte{}
	}
	ts := r.Timestamp.UnixMilli()
	e.vals[1], e.vals[2], e.vals[3] = []byte(r.Key), id, []byte(r.Fingerprint)
	e.vals[14] = compactUUID(r.ClientToken)
	e.vals[16], e.vals[17], e.vals[18], e.vals[19] = ts-e.hour*3600000, r.Quantity, allocs, r.CreatedAt.UnixMilli()-ts
	e.names = [...]string{r.Operation, string(r.Identity), r.Seller, r.ProductCode, r.CustomerAccountID,
		r.CustomerIdentifier, r.LicenseArn, r.Resource, r.CallerAccountID, r.AccessKeyID, r.Dimension}
	return e, nil
}

// A job is one PutRecords call waiting for the committer.
type job struct {
	groupcommit.Call
	recs []metering.Record
	rows []encodedRow
	out  []metering.Record // set by the committer, with err
	err  error
}

// Size is the number of records j writes, which batches are bounded by.
func (j *job) Size() int { return len(j.recs) }

// PutRecords stores the records whose Key is new, in one transaction shared
// with whatever other calls are waiting, and returns after it is committed.
// A context cancelled while the call still waits in the queue makes it
// return ctx.Err() and store nothing; once the committer has taken the
// call, it is finished and answered whatever the context does.
func (db *DB) PutRecords(ctx context.Context, recs []metering.Record) ([]metering.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return []metering.Record{}, nil
	}
	j := &job{recs: recs, rows: make([]encodedRow, len(recs))}
	for i := range recs {
		var err error
		if j.rows[i], err = encodeRow(&recs[i]); err != nil {
			return nil, fmt.Errorf("sqlite: record %d: %w", i, err)
		}
	}
	if err := db.jobs.Submit(ctx, j); err != nil {
		if errors.Is(err, groupcommit.ErrClosed) {
			err = ErrClosed
		}
		return nil, err
	}
	return j.out, j.err
}

// commitBatch runs one transaction for batch and sets its callers'
// answers; the queue gives them once it returns.
func (db *DB) commitBatch(batch []*job) {
	if h := db.hooks.beforeBatch; h != nil {
		h(batch)
	}
	start := time.Now()
	if err := db.runBatch(batch); err != nil {
		db.log.Error("sqlite: group commit failed", "calls", len(batch), "err", err)
		for _, j := range batch {
			if j.err == nil {
				j.out, j.err = nil, err
			}
		}
	} else {
		var calls, recs uint64
		for _, j := range batch {
			if j.err == nil {
				calls++
				recs += uint64(len(j.recs))
			}
		}
		if calls > 0 {
			db.commits.Add(1)
			db.calls.Add(calls)
			db.records.Add(recs)
			if db.onCommit != nil {
				db.onCommit(int(calls), int(recs), time.Since(start))
			}
		}
	}
	db.restartWAL()
	db.checkpointer.wake()
}

// runBatch commits every job of batch that does not fail alone, in one
// transaction. It returns an error only when the whole transaction is
// lost; a job that fails alone carries its error in j.err.
//
// Calls fail alone very rarely (bad data, a test's hook), so the common
// path pays nothing for it: no savepoint per call, which cost a copy of
// every page a call touched into SQLite's statement journal. When a call
// fails, the transaction is rolled back and run again without it.
func (db *DB) runBatch(batch []*job) error {
	// Not the callers' contexts: a taken job is finished even if its
	// caller has gone, and a context without Done spares go-sqlite3 a
	// goroutine per statement.
	ctx := context.Background()
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The committer talks to go-sqlite3 directly: database/sql's
	// conversions and locks per statement cost more than SQLite's insert.
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*sqlite3.SQLiteConn)
		if !ok {
			return fmt.Errorf("sqlite: write connection is a %T", dc)
		}
		w, err := db.writerFor(c)
		if err != nil {
			return err
		}
		// Keys committed by earlier batches, whose callers have their
		// answers, move to usage_keys first when enough have waited.
		if db.keys.due(time.Now()) {
			if err := w.catchUp(); err != nil {
				db.log.Warn("sqlite: index keys", "pending", len(db.keys.pending), "err", err)
			}
		}
		for {
			failed, err := w.tryBatch(batch)
			if err != nil || !failed {
				return err
			}
		}
	})
}

// writerFor returns the committer's writer on c, preparing its statements
// when c is new (the first batch, or a connection database/sql opened
// again).
func (db *DB) writerFor(c *sqlite3.SQLiteConn) (*writer, error) {
	if w := db.writer; w != nil && w.conn == c {
		return w, nil
	}
	w := &writer{db: db, conn: c, ctx: context.Background()}
	for _, p := range []struct {
		stmt *driver.Stmt
		sql  string
	}{
		{&w.insert, insertRecordSQL},
		{&w.selectByRow, selectRecordSQL + " WHERE rowid = ?"},
		{&w.selectKey, selectKeySQL},
		{&w.insertMark, insertMarkSQL},
		{&w.insertKey, insertKeySQL},
		{&w.dataVersion, dataVersionSQL},
		{&w.selectName, selectNameSQL},
		{&w.insertName, insertNameSQL},
		{&w.lastRow, lastRowSQL},
		{&w.keyRange, keyRangeSQL},
	} {
		st, err := c.PrepareContext(w.ctx, p.sql)
		if err != nil {
			return nil, err
		}
		*p.stmt = st
		w.prepared = append(w.prepared, st)
	}
	for i := range w.args {
		w.args[i].Ordinal = i + 1
	}
	db.writer = w
	return w, nil
}

// tryBatch runs batch's jobs without an error in one transaction. It
// reports failed, after rolling back, when a job failed alone: that job
// then carries its error and the others must run again.
func (w *writer) tryBatch(batch []*job) (failed bool, err error) {
	tx, err := w.conn.BeginTx(w.ctx, driver.TxOptions{})
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil || failed {
			_ = tx.Rollback() // the error that matters is err
			clear(w.db.newNames)
			w.db.keys.rolledBack()
			// The hours' marks written in the transaction are gone too:
			// nextRowid writes them again.
			clear(w.db.nextRow)
		}
	}()
	if err := w.checkIndex(); err != nil {
		return false, err
	}
	for _, j := range batch {
		if j.err != nil {
			continue // failed alone in an earlier try
		}
		out, err := w.putRecords(j)
		if err != nil {
			if !jobError(err) {
				return false, err
			}
			j.out, j.err = nil, err
			return true, nil
		}
		j.out = out
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	w.db.commitNames()
	w.db.keys.committed(time.Now())
	w.db.keys.stale.Store(false)
	return false, nil
}

// jobError reports whether err is the fault of one call (its data, or a
// test hook) rather than of the database, so that the call fails alone.
func jobError(err error) bool {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return true
	}
	switch se.Code {
	case sqlite3.ErrConstraint, sqlite3.ErrMismatch, sqlite3.ErrTooBig, sqlite3.ErrRange:
		return true
	}
	return false
}

// writer is the committer's statements on the write connection.
type writer struct {
	db   *DB
	conn *sqlite3.SQLiteConn
	ctx  context.Context

	insert, selectByRow, selectName, insertName, lastRow    driver.Stmt
	selectKey, insertKey, insertMark, dataVersion, keyRange driver.Stmt
	insertMany                                              driver.Stmt // multiRows records, prepared when first used
	manyArgs                                                []driver.NamedValue
	// prepared is every statement above, which Close finalizes.
	prepared []driver.Stmt

	args [insertArgs]driver.NamedValue
	one  [1]driver.NamedValue
	two  [2]driver.NamedValue
	dest [19]driver.Value
}

// query runs st with args and reads its first row into dest; ok is false
// when there is none.
func (w *writer) query(st driver.Stmt, args []driver.NamedValue, dest []driver.Value) (ok bool, err error) {
	rows, err := st.(driver.StmtQueryContext).QueryContext(w.ctx, args)
	if err != nil {
		return false, err
	}
	err = rows.Next(dest)
	if cerr := rows.Close(); err == nil || err == io.EOF {
		if cerr != nil {
			return false, cerr
		}
		return err == nil, nil
	}
	return false, err
}

// putRecords inserts j's new records in the current transaction and
// reads back, for the others, the record that holds their key: stored
// before, or earlier in this very batch.
//
// Records go in by multiRows to a statement when there are that many: one
// statement's bind, step and reset for 25 rows instead of 25 of each cost
// the committer less than a tenth of its time per record.
func (w *writer) putRecords(j *job) ([]metering.Record, error) {
	out := make([]metering.Record, len(j.recs))
	holder := make([]int64, len(j.recs)) // rowid of the record holding each key
	fresh := make([]int, 0, len(j.recs)) // positions of the new records
	isNew := make([]bool, len(j.recs))
	for i := range j.recs {
		row, found, err := w.findKey(j.recs[i].Key)
		if err != nil {
			return nil, fmt.Errorf("sqlite: look up record %d: %w", i, err)
		}
		if !found {
			if row, err = w.nextRowid(j.rows[i].hour); err != nil {
				return nil, err
			}
			if err := w.addKey(j.recs[i].Key, row, j.rows[i].hour); err != nil {
				return nil, fmt.Errorf("sqlite: record %d: %w", i, err)
			}
			fresh = append(fresh, i)
			isNew[i] = true
		}
		holder[i] = row
	}
	for start := 0; start < len(fresh); {
		n := 1
		if len(fresh)-start >= multiRows {
			n = multiRows
		}
		if err := w.insertRows(j, fresh[start:start+n], holder); err != nil {
			return nil, err
		}
		start += n
	}
	for i, row := range holder {
		if isNew[i] {
			out[i] = j.recs[i]
			continue
		}
		w.one[0] = driver.NamedValue{Ordinal: 1, Value: row}
		found, err := w.query(w.selectByRow, w.one[:], w.dest[:])
		if err == nil && !found {
			err = fmt.Errorf("record %d, which holds its key, is stored nowhere", row)
		}
		if err == nil {
			out[i], err = recordFromValues(w.dest[:])
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: read back record %d: %w", i, err)
		}
	}
	return out, nil
}

// multiRows is how many records one insert statement takes.
const multiRows = 25

// insertRows inserts j's records at positions which, whose rowids are in
// rowid, with one statement.
func (w *writer) insertRows(j *job, which []int, rowid []int64) error {
	n := len(which)
	st, args := w.insert, w.args[:]
	if n > 1 {
		if w.insertMany == nil {
			var err error
			if w.insertMany, err = w.conn.PrepareContext(w.ctx, insertRecordsSQL(n)); err != nil {
				return err
			}
			w.prepared = append(w.prepared, w.insertMany)
			w.manyArgs = make([]driver.NamedValue, n*insertArgs)
			for i := range w.manyArgs {
				w.manyArgs[i].Ordinal = i + 1
			}
		}
		st, args = w.insertMany, w.manyArgs
	}
	for r, i := range which {
		if h := w.db.hooks.insert; h != nil {
			if err := h(j.recs[i]); err != nil {
				return err
			}
		}
		row := &j.rows[i]
		a := args[r*insertArgs : (r+1)*insertArgs]
		for k := range row.vals {
			a[k].Value = row.vals[k]
		}
		a[0].Value = rowid[i]
		for k, at := range nameArgs {
			id, err := w.nameID(row.names[k])
			if err != nil {
				return err
			}
			a[at].Value = id
		}
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(w.ctx, args)
	if err != nil {
		return fmt.Errorf("sqlite: insert %d records: %w", n, err)
	}
	got := 0
	for {
		if err = rows.Next(w.dest[:1]); err != nil {
			break
		}
		got++
	}
	if cerr := rows.Close(); err == io.EOF {
		err = cerr
	}
	if err == nil && got != n {
		err = fmt.Errorf("%d rows went in", got)
	}
	if err != nil {
		return fmt.Errorf("sqlite: insert %d records: %w", n, err)
	}
	return nil
}

// insertRecordsSQL is insertRecordSQL for n records.
func insertRecordsSQL(n int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", insertArgs), ",") + ")"
	values := strings.TrimSuffix(strings.Repeat(one+",", n), ",")
	return strings.Replace(insertRecordSQL, "VALUES ("+strings.TrimSuffix(strings.Repeat("?,", insertArgs), ",")+")", "VALUES "+values, 1)
}

// nameID returns the usage_names id of name, adding it in the current
// transaction if it is new.
func (w *writer) nameID(name string) (int64, error) {
	if name == "" {
		return 0, nil
	}
	db := w.db
	if id, ok := db.names[name]; ok {
		return id, nil
	}
	if id, ok := db.newNames[name]; ok {
		return id, nil
	}
	w.one[0] = driver.NamedValue{Ordinal: 1, Value: name}
	found, err := w.query(w.selectName, w.one[:], w.dest[:1])
	if err != nil {
		return 0, fmt.Errorf("sqlite: look up name: %w", err)
	}
	if found {
		// Committed: every name this transaction added is in newNames.
		if len(db.names) >= maxCachedNames {
			clear(db.names)
		}
		id := w.dest[0].(int64)
		db.names[name] = id
		return id, nil
	}
	if _, err := w.query(w.insertName, w.one[:], w.dest[:1]); err != nil {
		return 0, fmt.Errorf("sqlite: add name: %w", err)
	}
	id := w.dest[0].(int64)
	db.newNames[name] = id
	return id, nil
}

// maxCachedNames bounds the committer's cache of usage_names: about 100
// bytes each. Past it the cache starts again empty.
const maxCachedNames = 1 << 18

// commitNames moves the names the committed transaction added into the
// cache.
func (db *DB) commitNames() {
	for name, id := range db.newNames {
		if len(db.names) >= maxCachedNames {
			clear(db.names)
		}
		db.names[name] = id
	}
	clear(db.newNames)
}

// nextRowid returns the rowid for a new record in hour: the hour, then the
// next number within it (see 00020_compact_usage_records.sql). The first
// time it meets an hour it makes sure the hour has a key mark (keys.go);
// after a rollback it meets every hour again, so numbers the rolled back
// transaction took may be given out again.
func (w *writer) nextRowid(hour int64) (int64, error) {
	db := w.db
	next, ok := db.nextRow[hour]
	if !ok {
		first := hour << hourRowidShift
		w.two[0] = driver.NamedValue{Ordinal: 1, Value: first}
		w.two[1] = driver.NamedValue{Ordinal: 2, Value: first + 1<<hourRowidShift}
		if _, err := w.query(w.lastRow, w.two[:], w.dest[:1]); err != nil {
			return 0, fmt.Errorf("sqlite: last record of the hour: %w", err)
		}
		next = first
		if last, ok := w.dest[0].(int64); ok {
			next = last + 1
		}
		// A new mark claims no row: were the hour to have rows without
		// one, the next catch-up would index them all.
		if err := w.markHour(hour, first-1); err != nil {
			return 0, err
		}
		if len(db.nextRow) >= 256 {
			clear(db.nextRow) // old hours; any hour reads its last rowid again
		}
	}
	if next-hour<<hourRowidShift >= 1<<hourRowidShift {
		return 0, fmt.Errorf("sqlite: more than %d records in hour %d", int64(1)<<hourRowidShift, hour)
	}
	db.nextRow[hour] = next + 1
	return next, nil
}

// hourOf is the UTC hour of ts in hours since the Unix epoch.
func hourOf(ts time.Time) int64 {
	s := ts.Unix()
	h := s / 3600
	if s%3600 < 0 {
		h--
	}
	return h
}

// compactUUID returns s as 16 bytes when it is a UUID in canonical
// lowercase form, which the usage_records view formats back the same, and
// s itself otherwise.
func compactUUID(s string) any {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return s
	}
	var b [16]byte
	for j, i := range uuidHexAt {
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return s
		}
		b[j] = hi<<4 | lo
	}
	return b[:]
}

// uuidHexAt are the positions of a canonical UUID's 16 hex digit pairs.
var uuidHexAt = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func scanRecord(row interface{ Scan(...any) error }) (metering.Record, error) {
	var (
		r                 metering.Record
		identity          string
		ts, createdAt     int64
		allocs            sql.NullString
		decodeAllocsError error
	)
	err := row.Scan(
		&r.Key, &r.ID, &r.Fingerprint, &r.Operation, &r.Seller, &r.ProductCode, &identity,
		&r.CustomerAccountID, &r.CustomerIdentifier, &r.LicenseArn, &r.Resource,
		&r.CallerAccountID, &r.AccessKeyID, &r.ClientToken,
		&r.Dimension, &ts, &r.Quantity, &allocs, &createdAt,
	)
	if err != nil {
		return metering.Record{}, err
	}
	r.Identity = metering.IdentityKind(identity)
	if r.ID == "" {
		r.ID = metering.RecordID(r.Key)
	}
	r.Timestamp = time.UnixMilli(ts).UTC()
	r.CreatedAt = time.UnixMilli(createdAt).UTC()
	if allocs.Valid {
		r.Allocations, decodeAllocsError = decodeAllocations(allocs.String)
	}
	return r, decodeAllocsError
}

// recordFromValues is scanRecord for the values of a driver-level row of
// selectRecordSQL.
func recordFromValues(v []driver.Value) (metering.Record, error) {
	str := func(x driver.Value) string {
		switch x := x.(type) {
		case string:
			return x
		case []byte:
			return string(x)
		}
		return ""
	}
	num := func(x driver.Value) int64 {
		n, _ := x.(int64)
		return n
	}
	r := metering.Record{
		Key: str(v[0]), ID: str(v[1]), Fingerprint: str(v[2]), Operation: str(v[3]), Seller: str(v[4]),
		ProductCode: str(v[5]), Identity: metering.IdentityKind(str(v[6])), CustomerAccountID: str(v[7]),
		CustomerIdentifier: str(v[8]), LicenseArn: str(v[9]), Resource: str(v[10]), CallerAccountID: str(v[11]),
		AccessKeyID: str(v[12]), ClientToken: str(v[13]), Dimension: str(v[14]),
		Timestamp: time.UnixMilli(num(v[15])).UTC(), Quantity: num(v[16]), CreatedAt: time.UnixMilli(num(v[18])).UTC(),
	}
	if r.ID == "" {
		r.ID = metering.RecordID(r.Key)
	}
	if v[17] != nil {
		var err error
		if r.Allocations, err = decodeAllocations(str(v[17])); err != nil {
			return metering.Record{}, err
		}
	}
	return r, nil
}

// encodeAllocations is metering.EncodeAllocations as a column value: NULL
// for nil allocations.
func encodeAllocations(allocs []metering.Allocation) (any, error) {
	b, err := metering.EncodeAllocations(allocs)
	if b == nil || err != nil {
		return nil, err
	}
	return string(b), nil
}

func decodeAllocations(s string) ([]metering.Allocation, error) {
	a, err := metering.DecodeAllocations(s)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return a, nil
}

// UsageSummary sums usage by product, customer, dimension and hour, from the
// rollups. Names are looked up once, so that the scan compares ids, and an
// hour range reads only its part of the table, which leads with the hour.
func (db *DB) UsageSummary(ctx context.Context, f metering.UsageFilter) ([]metering.UsageRow, error) {
	var (
		where []string
		args  []any
	)
	// id returns the id of a name the filter sets; a name no record uses
	// matches nothing.
	id := func(name string) (int64, bool, error) {
		var id int64
		err := db.read.QueryRowContext(ctx, selectNameSQL, name).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		return id, err == nil, err
	}
	for _, c := range []struct{ name, cond string }{
		{f.ProductCode, "product = $"},
		{f.Customer, "(account = $ OR identifier = $ OR license = $)"},
		{f.Dimension, "dimension = $"},
	} {
		if c.name == "" {
			continue
		}
		n, ok, err := id(c.name)
		if err != nil {
			return nil, fmt.Errorf("sqlite: usage summary: %w", err)
		}
		if !ok {
			return nil, nil
		}
		args = append(args, n)
		where = append(where, strings.ReplaceAll(c.cond, "$", "?"+strconv.Itoa(len(args))))
	}
	// An hour is in [From, To) when its start is: the first hour whose
	// start is at or after From, up to the first hour whose start is at or
	// after To.
	if !f.From.IsZero() {
		args = append(args, ceilHours(f.From))
		where = append(where, "hour >= ?"+strconv.Itoa(len(args)))
	}
	if !f.To.IsZero() {
		args = append(args, ceilHours(f.To))
		where = append(where, "hour < ?"+strconv.Itoa(len(args)))
	}
	// The rollups (00030_compact_rollups.sql) hold exactly these sums.
	q := `SELECT s.hour, p.name, a.name, i.name, l.name, d.name, s.quantity, s.records FROM (
	SELECT hour, product, account, identifier, license, dimension, quantity, records FROM usage_rollups`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += `) AS s
JOIN usage_names AS p ON p.id = s.product JOIN usage_names AS a ON a.id = s.account
JOIN usage_names AS i ON i.id = s.identifier JOIN usage_names AS l ON l.id = s.license
JOIN usage_names AS d ON d.id = s.dimension
ORDER BY s.hour, p.name, a.name, i.name, l.name, d.name`
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: usage summary: %w", err)
	}
	defer rows.Close()
	var out []metering.UsageRow
	for rows.Next() {
		var (
			r    metering.UsageRow
			hour int64
		)
		if err := rows.Scan(&hour, &r.ProductCode, &r.CustomerAccountID, &r.CustomerIdentifier, &r.LicenseArn, &r.Dimension, &r.Quantity, &r.Records); err != nil {
			return nil, fmt.Errorf("sqlite: usage summary: %w", err)
		}
		r.Hour = time.Unix(hour*3600, 0).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: usage summary: %w", err)
	}
	return out, nil
}

// ceilHours is the first hour (since the epoch) that starts at or after t.
func ceilHours(t time.Time) int64 {
	h := hourOf(t)
	if !t.Equal(time.Unix(h*3600, 0)) {
		h++
	}
	return h
}
