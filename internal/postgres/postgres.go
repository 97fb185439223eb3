// Package postgres implements metering.Store on PostgreSQL (pgx v5), for
// running several meterd replicas behind a load balancer on one database.
//
// It keeps the promises of internal/sqlite, and the same conformance suite
// checks them: a usage record is acknowledged only after the transaction
// holding it has committed; PutRecords calls queue for one committer
// goroutine per replica, which writes everything waiting in one transaction
// (group commit), so that one commit serves many calls; a call the database
// refuses fails alone, the others running again without it.
//
// Across replicas the database decides. The idempotency key is the primary
// key of usage_records, and records go in with INSERT ... ON CONFLICT (key)
// DO NOTHING. When another replica's transaction holds the same key
// uncommitted, the insert waits for it; if that transaction commits, the
// insert does nothing and the read back that follows, a new statement and so
// a new snapshot under READ COMMITTED, sees the committed row; if it rolls
// back, the insert goes ahead. So the same record sent to two replicas at
// once is stored once, and both callers get that one record. Two group
// commits that take the same keys in opposite orders can deadlock; the
// database aborts one and the committer runs that batch again.
//
// Every database operation is bounded by a timeout (5 s unless the DSN's
// statement_timeout says otherwise), so that while PostgreSQL is away calls
// fail fast instead of hanging. The pool drops broken connections and dials
// new ones when the server is back; nothing needs a restart.
//
// Usage rollups for reports (rollups.go, migrations/00031_usage_rollups.sql)
// are kept by the committer in the transaction that commits the records:
// it sums the records a batch actually inserted by hour, product, customer,
// license and dimension (and by allocation tag), under name ids from
// usage_names that each replica caches once committed, and upserts each
// rollup table with one statement, rows in key order so that replicas
// committing at once wait for each other rather than deadlock.
//
// The audit log is in audit_events and metering_attempts (audit.go), shared
// by the replicas.
//
// The schema is in migrations/, numbered SQL files embedded in the binary and
// applied with goose by Open and by Migrate, under a PostgreSQL advisory lock
// so that replicas starting together migrate one after the other.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/meterd/meterd/internal/groupcommit"
	"github.com/meterd/meterd/internal/metering"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrClosed is returned by PutRecords after Close.
var ErrClosed = errors.New("postgres: database is closed")

// Options tune a DB. The zero value is the default.
type Options struct {
	// Logger receives migration and commit failure messages. Default:
	// discard.
	Logger *slog.Logger
	// MaxBatch caps the records one group commit takes. A single call
	// larger than MaxBatch still commits whole. Default 4096.
	MaxBatch int
	// Timeout bounds every database operation from the client side: one
	// group commit, one UsageSummary, LoadState or ApplyState, including
	// the wait for a connection. It is also the server's statement_timeout
	// and, unless the DSN sets connect_timeout, the dial timeout. Default:
	// the DSN's statement_timeout if it sets one, else 5 s.
	Timeout time.Duration
	// MigrationTimeout bounds Open's and Migrate's wait for the migration
	// lock plus the migrations themselves. Default 5 minutes.
	MigrationTimeout time.Duration
	// OnCommit, if set, is told of every group commit: how many calls and
	// records it carried and how long it took to commit, retries included.
	OnCommit func(calls, records int, d time.Duration)
}

// Defaults.
const (
	DefaultMaxBatch         = 4096
	DefaultTimeout          = 5 * time.Second
	DefaultMigrationTimeout = 5 * time.Minute
)

// migrationLockID is the advisory lock key meterd migrates under: the first
// eight bytes of "meterd-m" read as a big-endian integer. Advisory locks are
// per database, so it only orders replicas that share one.
const migrationLockID int64 = 0x6d65746572642d6d

// maxAttempts is how often a group commit runs when the database aborts it
// for a deadlock or serialization failure.
const maxAttempts = 4

// DB is a metering.Store on a PostgreSQL database. It is safe for
// concurrent use, and any number of DBs, in any number of processes, may
// share one database.
type DB struct {
	log     *slog.Logger
	pool    *pgxpool.Pool
	timeout time.Duration

	// jobs is the queue of PutRecords calls to the committer.
	jobs *groupcommit.Queue[*job]

	closeOnce sync.Once

	commits, calls, records, retries atomic.Uint64
	onCommit                         func(calls, records int, d time.Duration)

	hooks testHooks

	// names caches the ids of the rollups' names (rollups.go).
	names nameCache
}

// testHooks let the package's own tests hold the committer.
type testHooks struct {
	beforeCommit func(batch []*job)
}

var _ metering.Store = (*DB)(nil)

// Open connects to the database named by dsn (a postgres:// URL or a libpq
// key=value string), applies any pending migrations and starts the
// committer. Open fails rather than waits when the database is unreachable.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg, opts, err := parseConfig(dsn, opts)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, cfg, opts); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db := &DB{
		log:      opts.Logger,
		pool:     pool,
		timeout:  opts.Timeout,
		onCommit: opts.OnCommit,
		jobs:     groupcommit.New[*job](opts.MaxBatch),
	}
	go db.jobs.Run(db.commitBatch)
	return db, nil
}

// Migrate applies the pending migrations of the database named by dsn and
// returns the schema version it is at. Open does the same; Migrate is for
// `meterd migrate`, run before new replicas start.
func Migrate(ctx context.Context, dsn string, opts Options) (version int64, err error) {
	cfg, opts, err := parseConfig(dsn, opts)
	if err != nil {
		return 0, err
	}
	if err := migrate(ctx, cfg, opts); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	defer conn.Close(context.Background())
	err = conn.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&version)
	if err != nil {
		return 0, fmt.Errorf("postgres: migrate: %w", err)
	}
	return version, nil
}

// IsDSN reports whether database names a PostgreSQL database rather than a
// SQLite file: a postgres:// or postgresql:// URL.
func IsDSN(database string) bool {
	return strings.HasPrefix(database, "postgres://") || strings.HasPrefix(database, "postgresql://")
}

// parseConfig reads dsn and fills the defaults of opts from it and the
// defaults of the connection from opts.
func parseConfig(dsn string, opts Options) (*pgxpool.Config, Options, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx masks the password in its message.
		return nil, opts, fmt.Errorf("postgres: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.MigrationTimeout <= 0 {
		opts.MigrationTimeout = DefaultMigrationTimeout
	}
	params := cfg.ConnConfig.RuntimeParams
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
		if s, ok := params["statement_timeout"]; ok {
			d, err := parseGUCDuration(s)
			if err != nil || d <= 0 {
				return nil, opts, fmt.Errorf("postgres: statement_timeout=%q: want a positive duration such as 5s or 5000 (milliseconds): meterd bounds every database call with it", s)
			}
			opts.Timeout = d
		}
	}
	if _, ok := params["statement_timeout"]; !ok {
		params["statement_timeout"] = strconv.FormatInt(opts.Timeout.Milliseconds(), 10)
	}
	if _, ok := params["idle_in_transaction_session_timeout"]; !ok {
		// A replica that stops mid-transaction (SIGSTOP, a partition)
		// must not hold its row locks for ever.
		params["idle_in_transaction_session_timeout"] = strconv.FormatInt(2*opts.Timeout.Milliseconds(), 10)
	}
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "meterd"
	}
	if cfg.ConnConfig.ConnectTimeout <= 0 {
		cfg.ConnConfig.ConnectTimeout = opts.Timeout
	}
	// Half the default: a pool that lost its connections to an outage
	// notices sooner. Acquire also pings a connection idle for over a
	// second before handing it out.
	if cfg.HealthCheckPeriod == time.Minute {
		cfg.HealthCheckPeriod = 30 * time.Second
	}
	return cfg, opts, nil
}

// parseGUCDuration reads a PostgreSQL time setting: a number with an
// optional unit (us, ms, s, min, h, d), milliseconds without one.
func parseGUCDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' && r != '-' })
	num, unit := s, "ms"
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err
	}
	units := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "min": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	u, ok := units[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q", unit)
	}
	return time.Duration(n * float64(u)), nil
}

// migrate applies the embedded migrations under the migration lock. The
// lock is a session-level advisory lock on a connection of its own; goose
// runs on another, without statement_timeout, since a migration of a big
// table may take long. A replica that finds the lock taken waits for it
// (up to MigrationTimeout) and then finds nothing left to do.
func migrate(ctx context.Context, cfg *pgxpool.Config, opts Options) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("postgres: migrate: %w", err)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, opts.MigrationTimeout)
	defer cancel()
	cc := cfg.ConnConfig.Copy()
	cc.RuntimeParams["statement_timeout"] = "0"
	cc.RuntimeParams["idle_in_transaction_session_timeout"] = "0"

	lockConn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	defer lockConn.Close(context.Background())
	var locked bool
	if err := lockConn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, migrationLockID).Scan(&locked); err != nil {
		return err
	}
	if !locked {
		opts.Logger.Info("postgres: waiting for another meterd to finish migrating")
		if _, err := lockConn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockID); err != nil {
			return fmt.Errorf("wait for the migration lock: %w", err)
		}
	}
	// Closing lockConn releases the lock too, also when an unlock fails.
	defer lockConn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, migrationLockID)

	db := stdlib.OpenDB(*cc)
	defer db.Close()
	db.SetMaxOpenConns(1)
	return runGoose(ctx, db, opts.Logger)
}

func runGoose(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return err
	}
	for _, r := range results {
		log.Info("postgres: applied migration", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Stats counts the work of the group committer since Open.
type Stats struct {
	Commits uint64 // transactions committed
	Calls   uint64 // PutRecords calls answered from those transactions
	Records uint64 // records in those calls, new or not
	Retries uint64 // transactions run again after a deadlock or serialization failure
}

// Stats returns the committer's counters; Calls/Commits is the number of
// calls that shared one commit.
func (db *DB) Stats() Stats {
	return Stats{Commits: db.commits.Load(), Calls: db.calls.Load(), Records: db.records.Load(), Retries: db.retries.Load()}
}

// Close stops taking PutRecords calls, commits those already queued, and
// closes the pool. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.jobs.Close()
		db.pool.Close()
	})
	return nil
}

// Ping checks that the database answers, for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	return db.pool.Ping(ctx)
}

// withTimeout bounds one database operation.
func (db *DB) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.timeout)
}
