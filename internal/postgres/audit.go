package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/meterd/meterd/internal/audit"
)

// The audit log (migrations/00030_audit_log.sql), shared by the replicas:
// each replica's audit.Log batches its own events, and LookupEvents on any
// replica sees every replica's events once written (within the log's flush
// interval). A batch is one statement, unless it is a backlog.

var _ audit.Store = (*DB)(nil)

// appendAuditSQL inserts a batch: events and attempts, each passed as one
// array per column, in one statement and so one transaction. Events go in
// in array order, so that seq keeps the order they were recorded in.
const appendAuditSQL = `WITH events AS (
	INSERT INTO audit_events (event_time, event_source, event_name, account_id, access_key_id, error_code, event)
	SELECT t, src, name, account, key, nullif(code, ''), body
	FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
		WITH ORDINALITY AS e (t, src, name, account, key, code, body, n)
	ORDER BY n
)
INSERT INTO metering_attempts (at, hour, product_code, customer_account_id, customer_identifier, license_arn, attempt)
SELECT * FROM unnest($8::timestamptz[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[])`

// auditChunk caps the events, and the attempts, that one insert takes. The
// log writes at most about this many at a time (audit.Log's flushAt)
// unless a backlog built up while the database was away; a backlog goes in
// as several inserts in one transaction, each well within the statement
// timeout, which one insert of all of it could exceed at every retry.
const auditChunk = 2048

// auditPruneBatch is how many rows one pruning statement deletes, so that
// no statement runs into the timeout or holds many row locks.
const auditPruneBatch = 5000

// auditMillis is t as stored: milliseconds, UTC.
func auditMillis(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// auditText is s as the audit tables hold it. The audit log records calls
// that failed validation, so an access key, an operation or a product code
// may be any bytes, and PostgreSQL refuses text with NUL or invalid UTF-8:
// one such value would fail its batch again at every retry. Filters go
// through it too, so that they still match. encoding/json makes the events
// valid UTF-8 already, save what a json.RawMessage in them holds.
func auditText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// AppendAudit implements audit.Store.
func (db *DB) AppendAudit(ctx context.Context, events []audit.Event, attempts []audit.Attempt) error {
	if len(events) == 0 && len(attempts) == 0 {
		return nil
	}
	n := len(events)
	var (
		times                                 = make([]time.Time, n)
		sources, names, accounts, keys, codes = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		bodies                                = make([]string, n)
	)
	for i := range events {
		e := &events[i]
		body, err := e.StoredJSON()
		if err != nil {
			return fmt.Errorf("postgres: append audit: %w", err)
		}
		times[i], sources[i], names[i] = auditMillis(e.EventTime), auditText(e.EventSource), auditText(e.EventName)
		accounts[i], keys[i], codes[i] = auditText(e.UserIdentity.AccountID), auditText(e.UserIdentity.AccessKeyID), auditText(e.ErrorCode)
		bodies[i] = auditText(string(body))
	}
	m := len(attempts)
	var (
		at, hours                                  = make([]time.Time, m), make([]time.Time, m)
		products, customers, identifiers, licenses = make([]string, m), make([]string, m), make([]string, m), make([]string, m)
		attemptBodies                              = make([]string, m)
	)
	for i := range attempts {
		a := &attempts[i]
		body, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("postgres: append audit: %w", err)
		}
		at[i], hours[i], products[i] = auditMillis(a.Time), a.Hour.UTC().Truncate(time.Hour), auditText(a.ProductCode)
		customers[i], identifiers[i], licenses[i] = auditText(a.CustomerAccountID), auditText(a.CustomerIdentifier), auditText(a.LicenseArn)
		attemptBodies[i] = auditText(string(body))
	}
	chunk := func(start int) []any {
		e0, e1 := min(start, n), min(start+auditChunk, n)
		a0, a1 := min(start, m), min(start+auditChunk, m)
		return []any{times[e0:e1], sources[e0:e1], names[e0:e1], accounts[e0:e1], keys[e0:e1], codes[e0:e1], bodies[e0:e1],
			at[a0:a1], hours[a0:a1], products[a0:a1], customers[a0:a1], identifiers[a0:a1], licenses[a0:a1], attemptBodies[a0:a1]}
	}
	exec := func(ctx context.Context, q interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	}, args []any) error {
		ctx, cancel := db.withTimeout(ctx)
		defer cancel()
		_, err := q.Exec(ctx, appendAuditSQL, args...)
		return err
	}
	var err error
	if max(n, m) <= auditChunk {
		err = exec(ctx, db.pool, chunk(0))
	} else {
		err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			for start := 0; start < max(n, m); start += auditChunk {
				if err := exec(ctx, tx, chunk(start)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("postgres: append audit: %w", err)
	}
	return nil
}

// lookupEventsSQL is LookupEvents' query for f and its cursor: the
// filters given, newest first, one more than a page.
func lookupEventsSQL(f audit.Filter, cur audit.Cursor, paged bool) (string, []any) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.StartTime.IsZero() {
		add("event_time >= ?", auditMillis(f.StartTime))
	}
	if !f.EndTime.IsZero() {
		add("event_time <= ?", auditMillis(f.EndTime))
	}
	if f.EventName != "" {
		add("event_name = ?", auditText(f.EventName))
	}
	if f.EventSource != "" {
		add("event_source = ?", auditText(f.EventSource))
	}
	if f.Account != "" {
		add("account_id = ?", auditText(f.Account))
	}
	if f.AccessKeyID != "" {
		add("access_key_id = ?", auditText(f.AccessKeyID))
	}
	if f.ErrorCode != "" {
		add("error_code = ?", auditText(f.ErrorCode))
	}
	if paged {
		args = append(args, time.UnixMilli(cur.TimeMS).UTC(), cur.Seq)
		where = append(where, fmt.Sprintf("(event_time, seq) < ($%d, $%d)", len(args)-1, len(args)))
	}
	q := "SELECT seq, event FROM audit_events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	max := f.MaxResults
	if max <= 0 {
		max = audit.MaxResults
	}
	return q + " ORDER BY event_time DESC, seq DESC LIMIT " + strconv.Itoa(max+1), args
}

// LookupEvents implements audit.Store: newest first, one page, from the
// index of the most selective filter given.
func (db *DB) LookupEvents(ctx context.Context, f audit.Filter) (audit.Page, error) {
	cur, paged, err := audit.ParseToken(f.NextToken)
	if err != nil {
		return audit.Page{}, err
	}
	q, args := lookupEventsSQL(f, cur, paged)
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	rows, _ := db.pool.Query(ctx, q, args...)
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (audit.Event, error) {
		var (
			seq  int64
			body string
			e    audit.Event
		)
		if err := row.Scan(&seq, &body); err != nil {
			return e, err
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return e, fmt.Errorf("event %d: %w", seq, err)
		}
		e.Seq = seq
		return e, nil
	})
	if err != nil {
		return audit.Page{}, fmt.Errorf("postgres: lookup events: %w", err)
	}
	return audit.PageOf(events, f.MaxResults), nil
}

// attemptsSQL finds a customer's attempts for one product and hour from
// metering_attempts_hour.
const attemptsSQL = `SELECT attempt FROM metering_attempts
WHERE product_code = $1 AND hour = $2 AND $3 <> '' AND (customer_account_id = $3 OR customer_identifier = $3 OR license_arn = $3)
ORDER BY at, id LIMIT $4`

// Attempts implements audit.Store.
func (db *DB) Attempts(ctx context.Context, f audit.AttemptFilter) ([]audit.Attempt, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = audit.DefaultAttemptLimit
	}
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	rows, _ := db.pool.Query(ctx, attemptsSQL, auditText(f.ProductCode), f.Hour.UTC().Truncate(time.Hour), auditText(f.Customer), limit)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (audit.Attempt, error) {
		var (
			body string
			a    audit.Attempt
		)
		if err := row.Scan(&body); err != nil {
			return a, err
		}
		return a, json.Unmarshal([]byte(body), &a)
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: attempts: %w", err)
	}
	if out == nil {
		out = []audit.Attempt{}
	}
	return out, nil
}

// pruneAuditSQL deletes a batch of the oldest rows before $1, found from
// the time indexes. SKIP LOCKED: replicas pruning at once each take rows
// the other has not, instead of waiting on them.
var pruneAuditSQL = []string{
	`DELETE FROM audit_events WHERE seq IN (
	SELECT seq FROM audit_events WHERE event_time < $1 ORDER BY event_time LIMIT ` + strconv.Itoa(auditPruneBatch) + ` FOR UPDATE SKIP LOCKED)`,
	`DELETE FROM metering_attempts WHERE id IN (
	SELECT id FROM metering_attempts WHERE at < $1 ORDER BY at LIMIT ` + strconv.Itoa(auditPruneBatch) + ` FOR UPDATE SKIP LOCKED)`,
}

// PruneAudit implements audit.Store, in statements of auditPruneBatch rows,
// each bounded by the timeout.
func (db *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, q := range pruneAuditSQL {
		for {
			n, err := db.pruneAuditBatch(ctx, q, auditMillis(before))
			if err != nil {
				return total, fmt.Errorf("postgres: prune audit: %w", err)
			}
			total += n
			if n < auditPruneBatch {
				break
			}
		}
	}
	return total, nil
}

func (db *DB) pruneAuditBatch(ctx context.Context, q string, before time.Time) (int64, error) {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	tag, err := db.pool.Exec(ctx, q, before)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
