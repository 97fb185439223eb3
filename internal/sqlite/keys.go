package sqlite

import (
	"database/sql/driver"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// keyIndex is the committer's in-memory index of the idempotency keys it
// committed since the last catch-up: the keys of the open hours that are
// not in usage_keys yet (00033_key_index_off_commit.sql). A key is looked
// up here first, then in usage_keys; a record whose key is in neither is
// new. Only the committer touches it, but for stale.
//
// Why: a unique index on the rows took every new record's key at a random
// place among its hour's keys, so a group commit of n records dirtied about
// n index pages, and wrote each to the log. Moving the keys in bulk, in key
// order, writes each index page once per catch-up instead: with 10,000
// customers, BatchMeterUsage went from about 48k to about 90k records/s
// (BENCHMARKS.md, change 13).
type keyIndex struct {
	// pending: committed keys not in usage_keys, key -> rowid; hours: the
	// hours they are in; since: when the first of them was committed.
	pending map[string]int64
	hours   map[int64]struct{}
	since   time.Time
	// added: keys the open transaction inserted, key -> rowid, and their
	// hours; they join pending when it commits.
	added      map[string]int64
	addedHours map[int64]struct{}

	// stale is set when usage_keys may lack keys that pending does not
	// hold either: at start (a crash may have left rows above their hour's
	// mark), after WipeUsage, and when another connection wrote. The next
	// group commit then indexes every row above its mark before it looks
	// up a key.
	stale atomic.Bool
	// dataVersion is PRAGMA data_version as of the committer's last
	// transaction: it changes when another connection commits.
	dataVersion int64
	known       bool // dataVersion has been read

	// A catch-up runs after a group commit once maxPending keys or
	// maxAge are pending.
	maxPending int
	maxAge     time.Duration
}

// Catch-up thresholds. One catch-up of 32,768 keys touches each page of an
// hour's keys about once even at 10,000 customers (about 3,500 pages an
// hour), and takes tens of milliseconds; a second bounds how long keys
// wait at low rates, and with them how much a restart must index.
const (
	defaultMaxPending = 1 << 15
	defaultMaxAge     = time.Second
)

func (k *keyIndex) init() {
	k.pending = map[string]int64{}
	k.hours = map[int64]struct{}{}
	k.added = map[string]int64{}
	k.addedHours = map[int64]struct{}{}
	k.maxPending, k.maxAge = defaultMaxPending, defaultMaxAge
	k.stale.Store(true)
}

// lookup returns the rowid of the record holding key, if the index knows it.
func (k *keyIndex) lookup(key string) (int64, bool) {
	if row, ok := k.added[key]; ok {
		return row, true
	}
	row, ok := k.pending[key]
	return row, ok
}

func (k *keyIndex) add(key string, row, hour int64) {
	k.added[key] = row
	k.addedHours[hour] = struct{}{}
}

// committed moves the open transaction's keys to pending.
func (k *keyIndex) committed(now time.Time) {
	if len(k.added) == 0 {
		return
	}
	if len(k.pending) == 0 {
		k.since = now
	}
	for key, row := range k.added {
		k.pending[key] = row
	}
	for h := range k.addedHours {
		k.hours[h] = struct{}{}
	}
	k.rolledBack()
}

// rolledBack forgets the open transaction's keys.
func (k *keyIndex) rolledBack() {
	clear(k.added)
	clear(k.addedHours)
}

// indexed forgets pending keys once usage_keys holds them.
func (k *keyIndex) indexed() {
	clear(k.pending)
	clear(k.hours)
}

func (k *keyIndex) due(now time.Time) bool {
	return len(k.pending) >= k.maxPending || len(k.pending) > 0 && now.Sub(k.since) >= k.maxAge
}

const (
	selectKeySQL   = `SELECT row FROM usage_keys WHERE key = ?`
	insertKeySQL   = `INSERT INTO usage_keys (key, row) VALUES (?, ?)`
	insertMarkSQL  = `INSERT INTO usage_key_marks (hour, last) VALUES (?, ?) ON CONFLICT DO NOTHING`
	dataVersionSQL = `PRAGMA data_version`

	// indexHourSQL moves the keys of an hour's rows above its mark into
	// usage_keys, sorted so that each index page is written once. OR
	// IGNORE: a key already there (a row another writer put beside an
	// equal one) keeps the row it names rather than stopping every later
	// group commit.
	indexHourSQL = `INSERT OR IGNORE INTO usage_keys (key, row)
SELECT key, rowid FROM usage_rows
WHERE rowid > (SELECT last FROM usage_key_marks WHERE hour = ?1) AND rowid < (?1 + 1) << 32
ORDER BY key`
	markHourSQL = `UPDATE usage_key_marks
SET last = coalesce((SELECT max(rowid) FROM usage_rows WHERE rowid >= ?1 << 32 AND rowid < (?1 + 1) << 32), last)
WHERE hour = ?1`
	// staleHoursSQL finds the hours with rows above their mark.
	staleHoursSQL = `SELECT hour FROM usage_key_marks AS m
WHERE EXISTS (SELECT 1 FROM usage_rows WHERE rowid > m.last AND rowid < (m.hour + 1) << 32)`
)

// findKey returns the rowid of the record that holds key, committed or in
// the open transaction.
func (w *writer) findKey(key string) (int64, bool, error) {
	if row, ok := w.db.keys.lookup(key); ok {
		return row, true, nil
	}
	if absent, err := w.absent(key); absent || err != nil {
		return 0, false, err
	}
	w.db.filters.lookups++
	w.one[0] = driver.NamedValue{Ordinal: 1, Value: []byte(key)}
	found, err := w.query(w.selectKey, w.one[:], w.dest[:1])
	if err != nil || !found {
		return 0, false, err
	}
	return w.dest[0].(int64), true, nil
}

// addKey records that the open transaction gives key to the record at
// rowid row, in hour.
//
// Keys that lead with their hour wait in memory for a catch-up, which
// then writes each index page of the hour once for many keys. Keys for
// any hour (AgentCore's ClientToken, metering.AnyHourKey) go into
// usage_keys at once: they are spread over every such key ever stored, so
// a catch-up would write as many pages as the group commits it replaces,
// all in one pause (MeterUsage p99 at 5,000/s went from about 12 to 19 ms
// when they waited too). The catch-up meets their rows as well, and OR
// IGNORE passes over them.
func (w *writer) addKey(key string, row, hour int64) error {
	if _, ok := metering.KeyHour(key); ok {
		w.db.keys.add(key, row, hour)
		w.db.filters.added(key)
		return nil
	}
	w.two[0] = driver.NamedValue{Ordinal: 1, Value: []byte(key)}
	w.two[1] = driver.NamedValue{Ordinal: 2, Value: row}
	_, err := w.insertKey.(driver.StmtExecContext).ExecContext(w.ctx, w.two[:])
	return err
}

// checkIndex runs at the start of each group commit's transaction: if
// usage_keys may lack keys pending does not hold, it indexes every row
// above its hour's mark, within the transaction, so that the lookups that
// follow see every stored key.
func (w *writer) checkIndex() error {
	k := &w.db.keys
	found, err := w.query(w.dataVersion, nil, w.dest[:1])
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("sqlite: no data_version")
	}
	v := w.dest[0].(int64)
	if k.known && v != k.dataVersion {
		k.stale.Store(true) // another connection wrote
	}
	k.dataVersion, k.known = v, true
	if !k.stale.Load() {
		return nil
	}
	// From here pending may name rows that are gone (a wipe) and the
	// hours' next rowids may lack their marks: start both again from the
	// database. stale stays set until the transaction commits.
	k.indexed()
	clear(w.db.nextRow)
	w.db.filters.reset()
	hours, err := w.staleHours()
	if err != nil {
		return err
	}
	return w.indexHours(hours)
}

// staleHours returns the hours with rows above their mark.
func (w *writer) staleHours() ([]int64, error) {
	rows, err := w.conn.QueryContext(w.ctx, staleHoursSQL, nil)
	if err != nil {
		return nil, err
	}
	var hours []int64
	dest := make([]driver.Value, 1)
	for {
		if err = rows.Next(dest); err != nil {
			break
		}
		hours = append(hours, dest[0].(int64))
	}
	if cerr := rows.Close(); err == io.EOF {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: hours to index: %w", err)
	}
	return hours, nil
}

// indexHours moves the keys of hours' rows above their marks into
// usage_keys and raises the marks, in the open transaction.
func (w *writer) indexHours(hours []int64) error {
	slices.Sort(hours)
	for _, h := range hours {
		args := []driver.NamedValue{{Ordinal: 1, Value: h}}
		if _, err := w.conn.ExecContext(w.ctx, indexHourSQL, args); err != nil {
			return fmt.Errorf("sqlite: index keys of hour %d: %w", h, err)
		}
		if _, err := w.conn.ExecContext(w.ctx, markHourSQL, args); err != nil {
			return fmt.Errorf("sqlite: mark hour %d: %w", h, err)
		}
	}
	return nil
}

// catchUp moves the pending keys into usage_keys in a transaction of its
// own, between two group commits. If it fails the keys stay pending, and
// the next catch-up tries again.
func (w *writer) catchUp() error {
	k := &w.db.keys
	hours := make([]int64, 0, len(k.hours))
	for h := range k.hours {
		hours = append(hours, h)
	}
	tx, err := w.conn.BeginTx(w.ctx, driver.TxOptions{})
	if err != nil {
		return err
	}
	if err := w.indexHours(hours); err != nil {
		_ = tx.Rollback() // the error that matters is err
		return err
	}
	if err := tx.Commit(); err != nil {
		_ = tx.Rollback() // a COMMIT that failed may leave the transaction open
		return err
	}
	k.indexed()
	return nil
}

// markHour makes sure hour has a mark before its first row in this
// transaction: last is the hour's last rowid, all of whose keys the
// caller's index holds. A mark already there is kept.
func (w *writer) markHour(hour, last int64) error {
	w.two[0] = driver.NamedValue{Ordinal: 1, Value: hour}
	w.two[1] = driver.NamedValue{Ordinal: 2, Value: last}
	_, err := w.insertMark.(driver.StmtExecContext).ExecContext(w.ctx, w.two[:])
	if err != nil {
		return fmt.Errorf("sqlite: mark hour %d: %w", hour, err)
	}
	return nil
}
