// Package sqlite implements metering.Store on a SQLite file, for a
// self-hosted meterd that needs no database server, and audit.Store on a
// second one beside it (audit.go), so that the audit log has its own write
// lock.
//
// Durability comes first: a usage record is acknowledged only after the
// transaction holding it is in the write-ahead log and fsynced
// (journal_mode=WAL, synchronous=FULL). An fsync costs far more than the
// inserts it makes durable, so PutRecords does not commit on its own: calls
// queue for one committer goroutine, which writes everything waiting in one
// transaction and answers every caller after the COMMIT. Under load one
// fsync serves many calls (group commit). A call that fails alone (its
// data, a test's hook) is taken out and the transaction runs again without
// it, so the others commit and it stores nothing; this costs nothing while
// calls succeed, where a SAVEPOINT per call made SQLite copy every page a
// call touched into its statement journal. A call is the unit of
// cancellation too: its context counts until the committer takes it, and
// from then on it is finished, so a caller never sees an error for records
// that were in fact stored.
//
// The committer is the hot path, so it is lean: callers encode their
// records before they queue (encodeRow), and the committer talks to
// go-sqlite3 at the driver level, one cgo call per insert
// (records.go). Checkpoints run on a goroutine and connection of their own
// (tuning.go), so no commit waits for one.
//
// Usage records are stored compactly (migrations/00020): strings by id in a
// dictionary, keys, fingerprints and UUIDs as bytes, rows clustered by
// hour; the usage_records view shows them as before.
//
// SQLite allows one writer at a time, so the package holds exactly one write
// connection (used by the committer and ApplyState, with BEGIN IMMEDIATE so
// a transaction never has to upgrade its lock) and a separate pool of
// read-only connections, which WAL lets read while the writer commits.
//
// The schema is in migrations/, numbered SQL files embedded in the binary and
// applied by Open with goose, so a new binary upgrades an old file on start;
// goMigrations adds the migrations written in Go.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
	"github.com/pressly/goose/v3"

	"github.com/meterd/meterd/internal/groupcommit"
	"github.com/meterd/meterd/internal/metering"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrClosed is returned by PutRecords after Close.
var ErrClosed = errors.New("sqlite: database is closed")

// Options tune a DB. The zero value is the durable default.
type Options struct {
	// Logger receives migration and commit failure messages. Default:
	// discard.
	Logger *slog.Logger
	// MaxBatch caps the records one group commit takes, so that one
	// transaction (and the latency of everyone in it) stays bounded. A single
	// call larger than MaxBatch still commits whole. Default 4096.
	MaxBatch int
	// Synchronous is SQLite's synchronous pragma for the write connection:
	// FULL (default) fsyncs every commit; NORMAL is faster but may lose the
	// last commits, though not consistency, on power loss; OFF and EXTRA as
	// SQLite documents them. Anything but FULL or EXTRA breaks the promise
	// that an acknowledged record survives a crash.
	Synchronous string
	// OnCommit, if set, is told of every group commit: how many calls and
	// records it carried and how long it took to become durable.
	OnCommit func(calls, records int, d time.Duration)
}

// DefaultMaxBatch is Options.MaxBatch's default.
const DefaultMaxBatch = 4096

// busyTimeoutMS is how long a connection waits for another process's lock
// (a backup tool, the sqlite3 shell) before failing.
const busyTimeoutMS = 5000

// DB is a metering.Store on one SQLite file. It is safe for concurrent use.
type DB struct {
	log   *slog.Logger
	write *sql.DB // one connection
	read  *sql.DB // read-only pool

	// writer holds the committer's statements, prepared on the write
	// connection at the driver level.
	writer *writer
	// The committer's own state, touched by it alone: the usage_names ids
	// it knows to be committed, those its open transaction added, and the
	// next rowid of each hour it has written.
	names    map[string]int64
	newNames map[string]int64
	nextRow  map[int64]int64
	keys     keyIndex
	filters  keyFilters

	checkpointer *checkpointer

	// jobs is the queue of PutRecords calls to the committer.
	jobs *groupcommit.Queue[*job]

	closeOnce sync.Once
	closeErr  error

	commits, calls, records atomic.Uint64
	onCommit                func(calls, records int, d time.Duration)

	hooks testHooks
}

// testHooks let the package's own tests stop and break the committer.
type testHooks struct {
	beforeBatch func(batch []*job)
	insert      func(metering.Record) error
}

var _ metering.Store = (*DB)(nil)

// Open opens or creates the database at path, applies any pending
// migrations and starts the committer.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// WAL and a separate read pool need a real file named plainly.
		return nil, fmt.Errorf("sqlite: open %q: need a file path", path)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	syncMode := strings.ToUpper(opts.Synchronous)
	switch syncMode {
	case "":
		syncMode = "FULL"
	case "OFF", "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("sqlite: synchronous %q is not one of OFF, NORMAL, FULL, EXTRA", opts.Synchronous)
	}

	db := &DB{
		log:      opts.Logger,
		onCommit: opts.OnCommit,
		jobs:     groupcommit.New[*job](opts.MaxBatch),
		names:    map[string]int64{},
		newNames: map[string]int64{},
		nextRow:  map[int64]int64{},
	}
	db.keys.init()
	db.filters.reset()
	registerDrivers()
	var err error
	db.write, err = sql.Open(writeDriver, dsn(path, url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {syncMode},
		"_busy_timeout": {fmt.Sprint(busyTimeoutMS)},
		"_foreign_keys": {"1"},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One connection, kept for the life of the DB: it owns the prepared
	// statements, and a second writer would only wait on SQLite's lock.
	db.write.SetMaxOpenConns(1)
	db.write.SetMaxIdleConns(1)
	db.write.SetConnMaxLifetime(0)
	db.write.SetConnMaxIdleTime(0)

	fail := func(err error) (*DB, error) {
		err = fmt.Errorf("sqlite: open %s: %w", path, err)
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
	if err := migrate(ctx, db.write, db.log); err != nil {
		return fail(err)
	}

	db.read, err = sql.Open(readDriver, dsn(path, url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeoutMS)},
		"_query_only":   {"1"},
	}))
	if err != nil {
		return fail(err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.read.SetMaxOpenConns(n)
	db.read.SetMaxIdleConns(n)

	if db.checkpointer, err = startCheckpointer(path, syncMode, db.log); err != nil {
		return fail(err)
	}
	go db.jobs.Run(db.commitBatch)
	return db, nil
}

// dsn builds a go-sqlite3 data source name for path. The file: URI form lets
// SQLite see the path verbatim: only the characters that URIs reserve are
// escaped.
func dsn(path string, params url.Values) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + params.Encode()
}

// migrate applies the embedded migrations that db lacks. A goose Provider
// keeps all its state in the value, not in goose's package globals, so two
// DBs (or tests) can migrate side by side.
func migrate(ctx context.Context, db *sql.DB, log *slog.Logger) error {
	p, err := newProvider(db)
	if err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		log.Info("sqlite: applied migration", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// newProvider returns a goose Provider for db with meterd's migrations: the
// embedded SQL files and the Go ones (goMigrations).
func newProvider(db *sql.DB) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true),
		goose.WithGoMigrations(goMigrations()...))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Stats counts the work of the group committer since Open.
type Stats struct {
	Commits uint64 // transactions committed
	Calls   uint64 // PutRecords calls answered from those transactions
	Records uint64 // records in those calls, new or not
}

// Stats returns the committer's counters; Calls/Commits is the number of
// calls that shared one fsync.
func (db *DB) Stats() Stats {
	return Stats{Commits: db.commits.Load(), Calls: db.calls.Load(), Records: db.records.Load()}
}

// Close stops taking PutRecords calls, commits those already queued, and
// closes the database. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.jobs.Close()
		// The write connection closes last: SQLite checkpoints the WAL into
		// the main file when its last connection closes.
		errs := []error{db.checkpointer.close()}
		// The writer's statements first: SQLite closes a connection
		// (and checkpoints) only once its statements are finalized.
		if w := db.writer; w != nil {
			for _, st := range w.prepared {
				errs = append(errs, st.Close())
			}
		}
		db.closeErr = errors.Join(append(errs, db.read.Close(), db.write.Close())...)
	})
	return db.closeErr
}

// Ping checks that both connections answer, for readiness probes.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return err
	}
	return db.read.PingContext(ctx)
}
