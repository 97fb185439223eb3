package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/meterd/meterd/internal/groupcommit"
	"github.com/meterd/meterd/internal/metering"
)

const (
	// insertRecordsSQL inserts one call's records, passed as one array per
	// column, and returns the keys it took. Rows go in in array order, so
	// that of two records with one key the first wins, as in SQLite; a key
	// taken earlier in the same statement is a conflict like any other.
	insertRecordsSQL = `INSERT INTO usage_records (
	key, id, fingerprint, operation, seller, product_code, identity,
	customer_account_id, customer_identifier, license_arn, resource,
	caller_account_id, access_key_id, client_token,
	dimension, ts, hour, quantity, allocations, created_at
) SELECT * FROM unnest(
	$1::bytea[], $2::text[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[],
	$8::text[], $9::text[], $10::text[], $11::text[],
	$12::text[], $13::text[], $14::text[],
	$15::text[], $16::timestamptz[], $17::timestamptz[], $18::bigint[], $19::text[], $20::timestamptz[]
)
ON CONFLICT (key) DO NOTHING
RETURNING key`

	selectRecordsSQL = `SELECT
	key, id, fingerprint, operation, seller, product_code, identity,
	customer_account_id, customer_identifier, license_arn, resource,
	caller_account_id, access_key_id, client_token,
	dimension, ts, quantity, allocations, created_at
FROM usage_records WHERE key = ANY($1::bytea[])`
)

// A job is one PutRecords call waiting for the committer.
type job struct {
	groupcommit.Call
	recs []metering.Record
	out  []metering.Record // set by the committer, with err
	err  error

	// args is the insert's arguments, built once even if the batch runs
	// again; argsErr is why they could not be built.
	args    []any
	argsErr error
	// alone is the error of a call that failed alone (its data): kept when
	// the batch runs again without it.
	alone error
}

// Size is the number of records j writes, which batches are bounded by.
func (j *job) Size() int { return len(j.recs) }

// PutRecords stores the records whose Key is new, in one transaction shared
// with whatever other calls are waiting, and returns after it is committed.
// A context cancelled while the call still waits in the queue makes it
// return ctx.Err() and store nothing; once the committer has taken the
// call, it is finished and answered whatever the context does, within the
// DB's timeout.
func (db *DB) PutRecords(ctx context.Context, recs []metering.Record) ([]metering.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return []metering.Record{}, nil
	}
	j := &job{recs: recs}
	if err := db.jobs.Submit(ctx, j); err != nil {
		if errors.Is(err, groupcommit.ErrClosed) {
			err = ErrClosed
		}
		return nil, err
	}
	return j.out, j.err
}

// commitBatch runs one transaction for batch, again if the database aborts
// it for a deadlock or serialization failure, and sets its callers'
// answers; the queue gives them once it returns.
func (db *DB) commitBatch(batch []*job) {
	// Not the callers' contexts: a taken job is finished even if its
	// caller has gone. The timeout covers every attempt.
	ctx, cancel := db.withTimeout(context.Background())
	defer cancel()
	// Calls in key order: with one-record calls (MeterUsage) every batch
	// then takes keys in one global order, so batches of two replicas
	// cannot deadlock. The order of concurrent calls is ours to choose.
	slices.SortStableFunc(batch, func(a, b *job) int { return cmp.Compare(minKey(a.recs), minKey(b.recs)) })
	begin := time.Now()
	var err error
	for attempt := 1; ; {
		for _, j := range batch {
			j.out, j.err = nil, j.alone
		}
		err = db.runBatch(ctx, batch)
		if errors.Is(err, errFailedAlone) && ctx.Err() == nil {
			continue // without the call that failed: one fewer each time
		}
		if err == nil || attempt == maxAttempts || !retryable(err) || ctx.Err() != nil {
			break
		}
		db.retries.Add(1)
		db.log.Info("postgres: group commit aborted by the database, running it again", "attempt", attempt, "err", err)
		attempt++
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (after the %s timeout)", err, db.timeout)
		}
		err = fmt.Errorf("postgres: group commit: %w", err)
		db.log.Error("postgres: group commit failed", "calls", len(batch), "err", err)
		for _, j := range batch {
			j.out, j.err = nil, err
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
				db.onCommit(int(calls), int(recs), time.Since(begin))
			}
		}
	}
}

func minKey(recs []metering.Record) string {
	k := recs[0].Key
	for _, r := range recs[1:] {
		k = min(k, r.Key)
	}
	return k
}

// retryable reports whether the database aborted a transaction that may
// simply run again: a deadlock or a serialization failure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// jobError reports whether err is the fault of one call's data (a data
// exception or constraint violation), so that the call fails alone. Any
// other error fails the whole transaction.
func jobError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23"))
}

// errFailedAlone is runBatch's answer when one call failed alone: the
// transaction is rolled back, the call keeps its error in alone, and the
// batch runs again without it.
var errFailedAlone = errors.New("postgres: a call failed alone")

// runBatch writes every job of batch in one transaction and commits. It
// returns errFailedAlone when a job failed alone, and any other error when
// the whole transaction is lost.
//
// The inserts of all jobs go out in one pipeline, so a batch costs one
// round trip plus the commit. Calls fail alone very rarely (data the
// database refuses), so the common path pays nothing for it: no SAVEPOINT
// per call, each of which made a subtransaction the server tracks for
// every later snapshot. When a call fails, the transaction is rolled back
// and runs again without it, as the SQLite store does.
func (db *DB) runBatch(ctx context.Context, batch []*job) (err error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// Bounded too: a server that stopped answering must not hold
			// the committer. The error that matters is err.
			rctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = tx.Rollback(rctx)
			cancel()
		}
	}()

	inserted := make([]map[string]bool, len(batch)) // keys each job took
	for _, j := range batch {
		if j.args == nil && j.argsErr == nil {
			j.args, j.argsErr = insertArgs(j.recs)
			if j.argsErr == nil {
				j.argsErr = checkRollupNames(j.recs)
			}
		}
		if j.argsErr != nil {
			j.err = j.argsErr
		}
	}
	b := &pgx.Batch{}
	var sent []int
	for i, j := range batch {
		if j.err != nil {
			continue
		}
		b.Queue(insertRecordsSQL, j.args...)
		sent = append(sent, i)
	}
	if len(sent) > 0 {
		failed, err := readPipeline(tx.SendBatch(ctx, b), batch, sent, inserted)
		if err != nil {
			return err
		}
		if failed >= 0 {
			batch[failed].alone = batch[failed].err
			return errFailedAlone
		}
	}

	// Read back every key a job did not take itself: taken before, by
	// another replica's committed transaction, or earlier in this batch.
	// Keys are never updated, so reading after the last job is the same as
	// reading right after each.
	type position struct{ job, rec int }
	var (
		want    [][]byte
		pending []position
		rollups rollupBatch
	)
	for i, j := range batch {
		if j.err != nil {
			continue
		}
		j.out = make([]metering.Record, len(j.recs))
		for k, r := range j.recs {
			if inserted[i][r.Key] {
				j.out[k] = r
				rollups.add(r)
				delete(inserted[i], r.Key) // a later record with the key reads back
			} else {
				want = append(want, []byte(r.Key))
				pending = append(pending, position{i, k})
			}
		}
	}
	if len(want) > 0 {
		stored := make(map[string]metering.Record, len(want))
		rows, _ := tx.Query(ctx, selectRecordsSQL, want)
		for rows.Next() {
			r, err := scanRecord(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("read back records: %w", err)
			}
			stored[r.Key] = r
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read back records: %w", err)
		}
		for _, p := range pending {
			j := batch[p.job]
			got, ok := stored[j.recs[p.rec].Key]
			if !ok {
				return fmt.Errorf("read back records: key %q is stored nowhere", j.recs[p.rec].Key)
			}
			j.out[p.rec] = got
		}
	}
	names, err := db.writeRollups(ctx, tx, &rollups)
	if err != nil {
		return err
	}
	if h := db.hooks.beforeCommit; h != nil {
		h(batch)
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	db.names.add(names)
	return nil
}

// readPipeline reads the results of one pipeline of jobs sent (indexes into
// batch) and records the keys each inserted. It returns the index of the
// job that failed alone, with its error in j.err, or -1; err is set when
// the transaction is lost.
func readPipeline(br pgx.BatchResults, batch []*job, sent []int, inserted []map[string]bool) (failed int, err error) {
	defer func() {
		if cerr := br.Close(); err == nil && failed < 0 && cerr != nil {
			err = cerr
		}
	}()
	for _, i := range sent {
		j := batch[i]
		rows, _ := br.Query()
		keys, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			if jobError(err) {
				j.err = fmt.Errorf("postgres: insert records: %w", err)
				return i, nil
			}
			return -1, err
		}
		inserted[i] = make(map[string]bool, len(keys))
		for _, k := range keys {
			inserted[i][string(k)] = true
		}
	}
	return -1, nil
}

// insertArgs lays recs out as insertRecordsSQL's column arrays, sorted by
// key (then position): every transaction takes keys in the same order,
// which spares most deadlocks between replicas' batches.
func insertArgs(recs []metering.Record) ([]any, error) {
	order := make([]int, len(recs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(recs[a].Key, recs[b].Key) })
	n := len(recs)
	var (
		key, fp                           = make([][]byte, n), make([][]byte, n)
		id, op, seller, product, identity = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		account, ident, arn, resource     = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		caller, accessKey, token, dim     = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		ts, hour, created                 = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		quantity                          = make([]int64, n)
		allocs                            = make([]*string, n)
	)
	for k, i := range order {
		r := recs[i]
		key[k], id[k], fp[k], op[k], seller[k], product[k], identity[k] = []byte(r.Key), r.ID, []byte(r.Fingerprint), r.Operation, r.Seller, r.ProductCode, string(r.Identity)
		account[k], ident[k], arn[k], resource[k] = r.CustomerAccountID, r.CustomerIdentifier, r.LicenseArn, r.Resource
		caller[k], accessKey[k], token[k], dim[k] = r.CallerAccountID, r.AccessKeyID, r.ClientToken, r.Dimension
		ts[k], hour[k], created[k] = millis(r.Timestamp), r.Timestamp.UTC().Truncate(time.Hour), millis(r.CreatedAt)
		quantity[k] = r.Quantity
		a, err := encodeAllocations(r.Allocations)
		if err != nil {
			return nil, fmt.Errorf("postgres: record %d: %w", i, err)
		}
		allocs[k] = a
	}
	return []any{key, id, fp, op, seller, product, identity, account, ident, arn, resource,
		caller, accessKey, token, dim, ts, hour, quantity, allocs, created}, nil
}

// millis is t as the schema keeps it: milliseconds, UTC.
func millis(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

func scanRecord(row pgx.Row) (metering.Record, error) {
	var (
		r             metering.Record
		key, fp       []byte
		identity      string
		ts, createdAt time.Time
		allocs        *string
	)
	err := row.Scan(
		&key, &r.ID, &fp, &r.Operation, &r.Seller, &r.ProductCode, &identity,
		&r.CustomerAccountID, &r.CustomerIdentifier, &r.LicenseArn, &r.Resource,
		&r.CallerAccountID, &r.AccessKeyID, &r.ClientToken,
		&r.Dimension, &ts, &r.Quantity, &allocs, &createdAt,
	)
	if err != nil {
		return metering.Record{}, err
	}
	r.Key, r.Fingerprint = string(key), string(fp)
	r.Identity = metering.IdentityKind(identity)
	r.Timestamp, r.CreatedAt = ts.UTC(), createdAt.UTC()
	if allocs != nil {
		if r.Allocations, err = decodeAllocations(*allocs); err != nil {
			return metering.Record{}, err
		}
	}
	return r, nil
}

// encodeAllocations is metering.EncodeAllocations as a column value: NULL
// for nil allocations.
func encodeAllocations(allocs []metering.Allocation) (*string, error) {
	b, err := metering.EncodeAllocations(allocs)
	if b == nil || err != nil {
		return nil, err
	}
	s := string(b)
	return &s, nil
}

func decodeAllocations(s string) ([]metering.Allocation, error) {
	a, err := metering.DecodeAllocations(s)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return a, nil
}

// UsageSummary sums usage by product, customer, dimension and hour. Only the
// conditions the filter sets go into the query, so that a product filter
// can use the (product_code, hour) index.
func (db *DB) UsageSummary(ctx context.Context, f metering.UsageFilter) (out []metering.UsageRow, err error) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.ProductCode != "" {
		where = append(where, "product_code = "+arg(f.ProductCode))
	}
	if f.Customer != "" {
		p := arg(f.Customer)
		where = append(where, "(customer_account_id = "+p+" OR customer_identifier = "+p+" OR license_arn = "+p+")")
	}
	if f.Dimension != "" {
		where = append(where, "dimension = "+arg(f.Dimension))
	}
	// hour holds whole hours, so comparing it with the ceiling of a bound
	// in seconds is the same as comparing it with the bound itself, and
	// spares timestamptz's microseconds rounding a bound down.
	if !f.From.IsZero() {
		where = append(where, "hour >= "+arg(ceilSecond(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "hour < "+arg(ceilSecond(f.To)))
	}
	const cols = "hour, product_code, customer_account_id, customer_identifier, license_arn, dimension"
	q := "SELECT " + cols + ", SUM(quantity)::bigint, COUNT(*) FROM usage_records"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " GROUP BY " + cols + " ORDER BY " + cols

	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	rows, _ := db.pool.Query(ctx, q, args...)
	defer rows.Close()
	for rows.Next() {
		var r metering.UsageRow
		if err := rows.Scan(&r.Hour, &r.ProductCode, &r.CustomerAccountID, &r.CustomerIdentifier, &r.LicenseArn, &r.Dimension, &r.Quantity, &r.Records); err != nil {
			return nil, fmt.Errorf("postgres: usage summary: %w", err)
		}
		r.Hour = r.Hour.UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: usage summary: %w", err)
	}
	return out, nil
}

func ceilSecond(t time.Time) time.Time {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return time.Unix(s, 0).UTC()
}
