package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/audit"
)

// The audit log (migrations/00011_audit_log.sql). audit.Log batches its
// writes, so AppendAudit takes the write connection once per batch, between
// two group commits, and commits with the same fsync as they do.

var _ audit.Store = (*DB)(nil)

// pruneBatch is how many rows one pruning transaction deletes, so that a
// large prune never holds the write connection long.
const pruneBatch = 5000

// AppendAudit implements audit.Store.
func (db *DB) AppendAudit(ctx context.Context, events []audit.Event, attempts []audit.Attempt) (err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: append audit: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that matters is err
			err = fmt.Errorf("sqlite: append audit: %w", err)
		}
	}()
	if len(events) > 0 {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO audit_events
	(event_ms, event_source, event_name, account_id, access_key_id, error_code, event) VALUES (?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for i := range events {
			e := &events[i]
			body, err := json.Marshal(e)
			if err != nil {
				return err
			}
			var code any
			if e.ErrorCode != "" {
				code = e.ErrorCode
			}
			if _, err := ins.ExecContext(ctx, e.EventTime.UnixMilli(), e.EventSource, e.EventName,
				e.UserIdentity.AccountID, e.UserIdentity.AccessKeyID, code, string(body)); err != nil {
				return err
			}
		}
	}
	if len(attempts) > 0 {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO metering_attempts
	(at_ms, hour, product_code, customer_account_id, customer_identifier, license_arn, attempt) VALUES (?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for i := range attempts {
			a := &attempts[i]
			body, err := json.Marshal(a)
			if err != nil {
				return err
			}
			if _, err := ins.ExecContext(ctx, a.Time.UnixMilli(), a.Hour.Truncate(time.Hour).Unix(), a.ProductCode,
				a.CustomerAccountID, a.CustomerIdentifier, a.LicenseArn, string(body)); err != nil {
				return err
			}
		}
	}
	return tx.Commit()
}

// LookupEvents implements audit.Store: newest first, one page, using the
// index of the most selective filter given.
func (db *DB) LookupEvents(ctx context.Context, f audit.Filter) (audit.Page, error) {
	cur, paged, err := audit.ParseToken(f.NextToken)
	if err != nil {
		return audit.Page{}, err
	}
	var (
		where []string
		args  []any
	)
	add := func(cond string, v ...any) { where, args = append(where, cond), append(args, v...) }
	if !f.StartTime.IsZero() {
		add("event_ms >= ?", f.StartTime.UnixMilli())
	}
	if !f.EndTime.IsZero() {
		add("event_ms <= ?", f.EndTime.UnixMilli())
	}
	if f.EventName != "" {
		add("event_name = ?", f.EventName)
	}
	if f.EventSource != "" {
		add("event_source = ?", f.EventSource)
	}
	if f.Account != "" {
		add("account_id = ?", f.Account)
	}
	if f.AccessKeyID != "" {
		add("access_key_id = ?", f.AccessKeyID)
	}
	if f.ErrorCode != "" {
		add("error_code = ?", f.ErrorCode)
	}
	if paged {
		add("(event_ms, seq) < (?, ?)", cur.TimeMS, cur.Seq)
	}
	q := "SELECT seq, event FROM audit_events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	max := f.MaxResults
	if max <= 0 {
		max = audit.MaxResults
	}
	q += " ORDER BY event_ms DESC, seq DESC LIMIT " + strconv.Itoa(max+1)
	rows, err := db.read.QueryContext(ctx, q, args...)
	if err != nil {
		return audit.Page{}, fmt.Errorf("sqlite: lookup events: %w", err)
	}
	defer rows.Close()
	var events []audit.Event
	for rows.Next() {
		var (
			seq  int64
			body string
			e    audit.Event
		)
		if err := rows.Scan(&seq, &body); err != nil {
			return audit.Page{}, fmt.Errorf("sqlite: lookup events: %w", err)
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return audit.Page{}, fmt.Errorf("sqlite: lookup events: event %d: %w", seq, err)
		}
		e.Seq = seq
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return audit.Page{}, fmt.Errorf("sqlite: lookup events: %w", err)
	}
	return audit.PageOf(events, max), nil
}

// Attempts implements audit.Store.
func (db *DB) Attempts(ctx context.Context, f audit.AttemptFilter) ([]audit.Attempt, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = audit.DefaultAttemptLimit
	}
	rows, err := db.read.QueryContext(ctx, `SELECT attempt FROM metering_attempts
WHERE product_code = ?1 AND hour = ?2 AND ?3 <> '' AND (customer_account_id = ?3 OR customer_identifier = ?3 OR license_arn = ?3)
ORDER BY at_ms, rowid LIMIT ?4`, f.ProductCode, f.Hour.Truncate(time.Hour).Unix(), f.Customer, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: attempts: %w", err)
	}
	defer rows.Close()
	out := []audit.Attempt{}
	for rows.Next() {
		var (
			body string
			a    audit.Attempt
		)
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("sqlite: attempts: %w", err)
		}
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			return nil, fmt.Errorf("sqlite: attempts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: attempts: %w", err)
	}
	return out, nil
}

// PruneAudit implements audit.Store, in transactions of pruneBatch rows.
func (db *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, q := range []string{
		"DELETE FROM audit_events WHERE seq IN (SELECT seq FROM audit_events WHERE event_ms < ? ORDER BY event_ms LIMIT " + strconv.Itoa(pruneBatch) + ")",
		"DELETE FROM metering_attempts WHERE rowid IN (SELECT rowid FROM metering_attempts WHERE at_ms < ? ORDER BY at_ms LIMIT " + strconv.Itoa(pruneBatch) + ")",
	} {
		for {
			n, err := execAffected(ctx, db.write, q, before.UnixMilli())
			if err != nil {
				return total, fmt.Errorf("sqlite: prune audit: %w", err)
			}
			total += n
			if n < pruneBatch {
				break
			}
		}
	}
	return total, nil
}

func execAffected(ctx context.Context, db *sql.DB, q string, args ...any) (int64, error) {
	res, err := db.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
