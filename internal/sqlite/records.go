package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

const (
	insertRecordSQL = `INSERT INTO usage_records (
	key, id, fingerprint, operation, seller, product_code, identity,
	customer_account_id, customer_identifier, license_arn, resource,
	caller_account_id, access_key_id, client_token,
	dimension, ts, hour, quantity, allocations, created_at
) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT (key) DO NOTHING`

	selectRecordSQL = `SELECT
	key, id, fingerprint, operation, seller, product_code, identity,
	customer_account_id, customer_identifier, license_arn, resource,
	caller_account_id, access_key_id, client_token,
	dimension, ts, quantity, allocations, created_at
FROM usage_records`
)

// A job is one PutRecords call waiting for the committer.
type job struct {
	recs []metering.Record
	// state moves from queued to taken (the committer will finish the job)
	// or to abandoned (the caller gave up first); whoever moves it first
	// decides.
	state atomic.Int32
	done  chan struct{} // closed when out and err are set
	out   []metering.Record
	err   error
}

const (
	jobQueued int32 = iota
	jobTaken
	jobAbandoned
)

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
	j := &job{recs: recs, done: make(chan struct{})}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case db.jobs <- j:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return nil, ctx.Err()
	}
	select {
	case <-j.done:
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return nil, ctx.Err()
		}
		<-j.done
	}
	return j.out, j.err
}

// commitLoop is the committer: it takes every job waiting, up to maxBatch
// records, commits them together and starts again, until Close closes the
// queue and it is empty.
func (db *DB) commitLoop() {
	defer close(db.done)
	var next *job // taken, but did not fit in the last batch
	for {
		var batch []*job
		n := 0
		if next != nil {
			batch, n, next = append(batch, next), len(next.recs), nil
		} else {
			j, ok := <-db.jobs
			if !ok {
				return
			}
			if j.state.CompareAndSwap(jobQueued, jobTaken) {
				batch, n = append(batch, j), len(j.recs)
			}
		}
	gather:
		for n < db.maxBatch {
			select {
			case j, ok := <-db.jobs:
				if !ok {
					break gather
				}
				if !j.state.CompareAndSwap(jobQueued, jobTaken) {
					continue
				}
				if n > 0 && n+len(j.recs) > db.maxBatch {
					next = j
					break gather
				}
				batch, n = append(batch, j), n+len(j.recs)
			default:
				break gather
			}
		}
		if len(batch) > 0 {
			db.commitBatch(batch)
		}
	}
}

// commitBatch runs one transaction for batch and answers its callers.
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
	for _, j := range batch {
		close(j.done)
	}
}

// runBatch writes every job of batch under its own savepoint and commits.
// It returns an error only when the whole transaction is lost; a job that
// fails alone carries its error in j.err.
func (db *DB) runBatch(batch []*job) (err error) {
	// Not the callers' contexts: a taken job is finished even if its
	// caller has gone, and a context without Done spares go-sqlite3 a
	// goroutine per statement.
	ctx := context.Background()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that matters is err
		}
	}()
	ins := tx.StmtContext(ctx, db.insert)
	sel := tx.StmtContext(ctx, db.selectByKey)
	for _, j := range batch {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT put"); err != nil {
			return err
		}
		j.out, j.err = db.putRecords(ctx, ins, sel, j.recs)
		if j.err != nil {
			j.out = nil
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO put"); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE put"); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// putRecords inserts recs in the current transaction. A key that is taken,
// before or earlier in this very batch, reads back the row that took it.
func (db *DB) putRecords(ctx context.Context, ins, sel *sql.Stmt, recs []metering.Record) ([]metering.Record, error) {
	out := make([]metering.Record, len(recs))
	for i, r := range recs {
		if h := db.hooks.insert; h != nil {
			if err := h(r); err != nil {
				return nil, err
			}
		}
		allocs, err := encodeAllocations(r.Allocations)
		if err != nil {
			return nil, err
		}
		res, err := ins.ExecContext(ctx,
			r.Key, r.ID, r.Fingerprint, r.Operation, r.Seller, r.ProductCode, string(r.Identity),
			r.CustomerAccountID, r.CustomerIdentifier, r.LicenseArn, r.Resource,
			r.CallerAccountID, r.AccessKeyID, r.ClientToken,
			r.Dimension, r.Timestamp.UnixMilli(), r.Timestamp.Truncate(time.Hour).Unix(), r.Quantity, allocs, r.CreatedAt.UnixMilli(),
		)
		if err != nil {
			return nil, fmt.Errorf("sqlite: insert record %d: %w", i, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, err
		}
		if n == 1 {
			out[i] = r
			continue
		}
		if out[i], err = scanRecord(sel.QueryRowContext(ctx, r.Key)); err != nil {
			return nil, fmt.Errorf("sqlite: read back record %d: %w", i, err)
		}
	}
	return out, nil
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
	r.Timestamp = time.UnixMilli(ts).UTC()
	r.CreatedAt = time.UnixMilli(createdAt).UTC()
	if allocs.Valid {
		r.Allocations, decodeAllocsError = decodeAllocations(allocs.String)
	}
	return r, decodeAllocsError
}

// encodeAllocations writes allocations as [[quantity, ["key","value",…]],
// …]: arrays instead of objects because the names would be repeated in
// every row. Nil tags leave the second element out, so that nil and empty
// read back as they were written.
func encodeAllocations(allocs []metering.Allocation) (any, error) {
	if allocs == nil {
		return nil, nil
	}
	b := make([]byte, 0, 16+len(allocs)*32)
	b = append(b, '[')
	for i, a := range allocs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, a.Quantity, 10)
		if a.Tags != nil {
			b = append(b, ",["...)
			for j, t := range a.Tags {
				if j > 0 {
					b = append(b, ',')
				}
				k, err := json.Marshal(t.Key)
				if err != nil {
					return nil, err
				}
				v, err := json.Marshal(t.Value)
				if err != nil {
					return nil, err
				}
				b = append(b, k...)
				b = append(b, ',')
				b = append(b, v...)
			}
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	b = append(b, ']')
	return string(b), nil
}

func decodeAllocations(s string) ([]metering.Allocation, error) {
	var raw [][]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("sqlite: allocations %q: %w", s, err)
	}
	out := make([]metering.Allocation, len(raw))
	for i, a := range raw {
		if len(a) < 1 || len(a) > 2 {
			return nil, fmt.Errorf("sqlite: allocation %d of %q: want [quantity] or [quantity, tags]", i, s)
		}
		if err := json.Unmarshal(a[0], &out[i].Quantity); err != nil {
			return nil, fmt.Errorf("sqlite: allocation %d of %q: %w", i, s, err)
		}
		if len(a) == 1 {
			continue
		}
		var kv []string
		if err := json.Unmarshal(a[1], &kv); err != nil || len(kv)%2 != 0 {
			return nil, fmt.Errorf("sqlite: allocation %d of %q: tags are not key/value pairs", i, s)
		}
		tags := make([]metering.Tag, len(kv)/2)
		for j := range tags {
			tags[j] = metering.Tag{Key: kv[2*j], Value: kv[2*j+1]}
		}
		out[i].Tags = tags
	}
	return out, nil
}

// UsageSummary sums usage by product, customer, dimension and hour. Only the
// conditions the filter sets go into the query, so that a product filter
// can use the (product_code, hour) index.
func (db *DB) UsageSummary(ctx context.Context, f metering.UsageFilter) ([]metering.UsageRow, error) {
	var (
		where []string
		args  []any
	)
	if f.ProductCode != "" {
		where, args = append(where, "product_code = ?"), append(args, f.ProductCode)
	}
	if f.Customer != "" {
		where = append(where, "(customer_account_id = ? OR customer_identifier = ? OR license_arn = ?)")
		args = append(args, f.Customer, f.Customer, f.Customer)
	}
	if f.Dimension != "" {
		where, args = append(where, "dimension = ?"), append(args, f.Dimension)
	}
	// hour holds whole seconds, so comparing it with the ceiling of a bound
	// is the same as comparing it with the bound itself.
	if !f.From.IsZero() {
		where, args = append(where, "hour >= ?"), append(args, ceilSeconds(f.From))
	}
	if !f.To.IsZero() {
		where, args = append(where, "hour < ?"), append(args, ceilSeconds(f.To))
	}
	const cols = "hour, product_code, customer_account_id, customer_identifier, license_arn, dimension"
	q := "SELECT " + cols + ", SUM(quantity), COUNT(*) FROM usage_records"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " GROUP BY " + cols + " ORDER BY " + cols
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
		r.Hour = time.Unix(hour, 0).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: usage summary: %w", err)
	}
	return out, nil
}

func ceilSeconds(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}
