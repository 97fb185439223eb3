package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/meterd/meterd/internal/audit"
)

// The audit log lives in a SQLite file of its own, beside the main one
// (AuditPath), with its own write connection, WAL and migrations
// (auditmigrations/). audit.Log writes a batch every 200 ms; in the main
// file each batch took the one write connection, and an fsync, between two
// group commits of usage records, so the audit log slowed metering down. In
// its own file it holds up no group commit.
//
// Its durability matches the audit log's promise (package audit:
// best-effort, a crash may lose the last events, never a record), not the
// records': see the synchronous setting in OpenAudit.

//go:embed auditmigrations/*.sql
var auditMigrations embed.FS

// auditVersionTable is goose's version table in the audit file. A name of
// its own, not the main file's goose_db_version: OpenAudit tells a main
// file by that table, and goose would take the main file's versions for
// the audit file's.
const auditVersionTable = "goose_audit_version"

// AuditOptions tune an AuditDB.
type AuditOptions struct {
	// Logger receives migration and move messages. Default: discard.
	Logger *slog.Logger
	// From is the main database. Until the audit log had a file of its own
	// its tables were in the main file (main migration 00011); OpenAudit
	// moves whatever they hold into the audit file and drops them from the
	// main file (audit_move.go). Nil: nothing to move.
	From *DB

	// moveHook, set by tests, runs after each step of the move and fails
	// it where it returns an error, as a crash there would.
	moveHook func(step string) error
}

// AuditDB is the audit log's SQLite file: an audit.Store. It is safe for
// concurrent use.
type AuditDB struct {
	path  string
	log   *slog.Logger
	write *sql.DB // one connection
	read  *sql.DB // read-only pool

	closeOnce sync.Once
	closeErr  error
}

var _ audit.Store = (*AuditDB)(nil)

// auditReaders is the size of the read pool: lookups come from the admin
// API and the dashboard, not from the data plane.
const auditReaders = 4

// AuditFlushInterval is how often the audit log should write to an
// AuditDB (audit.Options.FlushInterval), shorter than the log's default.
// A write here is not fsynced (synchronous=NORMAL), so a write is cheap,
// but each costs the writer CPU in proportion to its events: at 5,000
// MeterUsage calls/s the default 200 ms made a burst of about 1,000
// inserts, 5 ms of one of two cores, five times a second, and the calls
// that arrived meanwhile waited for a CPU. At 20 ms the bursts are a tenth
// of that and MeterUsage p99 at 5,000/s fell from 10.7–11.5 to 7.9–9.6 ms,
// throughput unchanged (BENCHMARKS.md, change 17).
const AuditFlushInterval = 20 * time.Millisecond

// AuditPath is where the audit log of the main database at dbPath lives
// unless told otherwise: beside it, "-audit" before its extension
// (/x/meterd.db: /x/meterd-audit.db).
func AuditPath(dbPath string) string {
	ext := filepath.Ext(dbPath)
	if ext == filepath.Base(dbPath) { // ".db": a name that is all extension
		ext = ""
	}
	return strings.TrimSuffix(dbPath, ext) + "-audit" + ext
}

// OpenAudit opens or creates the audit log file at path, applies its
// pending migrations and, with opts.From, moves the audit tables of the
// main database into it.
func OpenAudit(ctx context.Context, path string, opts AuditOptions) (*AuditDB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open audit log %q: need a file path", path)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	var mainPath string
	if opts.From != nil {
		var err error
		if mainPath, err = opts.From.filePath(ctx); err != nil {
			return nil, fmt.Errorf("sqlite: open audit log %s: %w", path, err)
		}
	}
	registerDrivers()
	db := &AuditDB{path: path, log: opts.Logger}
	var err error
	db.write, err = sql.Open("sqlite3", dsn(path, url.Values{
		"_journal_mode": {"WAL"},
		// NORMAL, not the main file's FULL: in WAL mode a commit is then
		// not fsynced, only checkpoints are. A killed process (kill -9)
		// loses nothing committed, since the WAL is in the OS's page cache;
		// an OS crash or power loss may lose the commits since the last
		// checkpoint (SQLite's automatic one, every 1000 pages of WAL,
		// about 4 MB), never consistency. The audit log promises no more
		// (package audit), and this saves an fsync every flush.
		"_synchronous":  {"NORMAL"},
		"_busy_timeout": {strconv.Itoa(busyTimeoutMS)},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open audit log %s: %w", path, err)
	}
	// One connection for the life of the AuditDB: SQLite has one writer
	// anyway, and the move attaches the main file to it. SQLite's automatic
	// checkpoint stays on: it runs inside an audit commit, which delays
	// the audit writer only.
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	db.write.SetConnMaxIdleTime(0)

	fail := func(err error) (*AuditDB, error) {
		err = fmt.Errorf("sqlite: open audit log %s: %w", path, err)
		if db.read != nil {
			err = errors.Join(err, db.read.Close())
		}
		return nil, errors.Join(err, db.write.Close())
	}
	var mode string
	if err := db.write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fail(err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fail(fmt.Errorf("journal_mode is %q, not wal (is the file on a file system without shared memory?)", mode))
	}
	// The audit migrations would add their tables to a main file, and
	// audit writes would then compete with metering there again.
	var mainTables int
	if err := db.write.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'goose_db_version'`).Scan(&mainTables); err != nil {
		return fail(err)
	}
	if mainTables > 0 {
		return fail(errors.New("it is a meterd database, not an audit log: give the audit log a file of its own"))
	}
	if err := migrateAudit(ctx, db.write, db.log); err != nil {
		return fail(err)
	}
	db.read, err = sql.Open(readDriver, dsn(path, url.Values{
		"_busy_timeout": {strconv.Itoa(busyTimeoutMS)},
		"_query_only":   {"1"},
	}))
	if err != nil {
		return fail(err)
	}
	db.read.SetMaxOpenConns(auditReaders)
	db.read.SetMaxIdleConns(auditReaders)
	if opts.From != nil {
		if err := db.moveFrom(ctx, opts.From, mainPath, opts.moveHook); err != nil {
			return fail(err)
		}
	}
	return db, nil
}

// migrateAudit applies the audit file's embedded migrations that db lacks.
func migrateAudit(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	p, err := newAuditProvider(db)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		log.Info("sqlite: applied audit log migration", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

func newAuditProvider(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(auditMigrations, "auditmigrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(auditVersionTable))
	if err != nil {
		return nil, fmt.Errorf("audit migrations: %w", err)
	}
	return p, nil
}

// Close closes the file. It is safe to call more than once. Close the
// audit.Log that writes here first, so that it stores what it queued.
func (db *AuditDB) Close() error {
	db.closeOnce.Do(func() {
		var errs []error
		if db.read != nil {
			errs = append(errs, db.read.Close())
		}
		// The write connection last: SQLite checkpoints the WAL into the
		// file when its last connection closes.
		db.closeErr = errors.Join(append(errs, db.write.Close())...)
	})
	return db.closeErr
}

// pruneBatch is how many rows one pruning transaction deletes, so that a
// large prune never holds the write connection long.
const pruneBatch = 5000

// AppendAudit implements audit.Store.
func (db *AuditDB) AppendAudit(ctx context.Context, events []audit.Event, attempts []audit.Attempt) (err error) {
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
			body, err := e.StoredJSON()
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
func (db *AuditDB) LookupEvents(ctx context.Context, f audit.Filter) (audit.Page, error) {
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
func (db *AuditDB) Attempts(ctx context.Context, f audit.AttemptFilter) ([]audit.Attempt, error) {
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
func (db *AuditDB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
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
