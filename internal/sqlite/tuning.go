package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/pressly/goose/v3"

	"github.com/meterd/meterd/internal/metering"
)

// Connection settings that go-sqlite3's DSN cannot carry are made by
// ConnectHooks of two driver names, so that a connection the pool opens
// again gets them too.
const (
	writeDriver = "sqlite3-meterd-write"
	readDriver  = "sqlite3-meterd-read"
)

// writeCacheKiB is the page cache of the write connection: the pages of
// the hours being written, of the key index's end and of the rollups.
// SQLite's default is 2 MiB.
const writeCacheKiB = 32 << 10

var registerOnce sync.Once

func registerDrivers() {
	registerOnce.Do(func() {
		sql.Register(writeDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			// temp_store=MEMORY keeps statement journals (an INSERT
			// whose triggers write other tables needs one) in memory.
			// wal_autocheckpoint=0: the checkpointer goroutine
			// checkpoints, so a commit never waits for one.
			_, err := c.Exec(fmt.Sprintf("PRAGMA temp_store = MEMORY; PRAGMA cache_size = -%d; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = %d", writeCacheKiB, walSizeLimit), nil)
			return err
		}})
		sql.Register(readDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA temp_store = MEMORY", nil)
			return err
		}})
	})
}

// checkpointer copies the write-ahead log into the database file on its own
// connection and goroutine. SQLite's automatic checkpoint runs inside the
// COMMIT that crosses its threshold, so one group commit in every few paid
// for writing back and fsyncing the pages of all of them. Here the
// committer only wakes the checkpointer; a PASSIVE checkpoint copies what
// readers no longer need while the next group commit runs. The log is
// reset when a checkpoint has copied all of it, so it stays about as large
// as what is written between two checkpoints.
//
// A checkpoint running beside a writer that never stops never catches up:
// new frames arrive while it copies, so the log is never all copied and
// never reset, and it grew to 1.5 GB in a minute of load, every page read
// searching more of its index. So when the log passes walRestartFrames the
// checkpointer asks the committer, the only writer, to checkpoint once
// between two group commits (restartWAL): with no writer it copies the
// last frames, and the next transaction starts the log again from its
// beginning (journal_size_limit then truncates the file).
type checkpointer struct {
	conn *sql.DB
	log  *slog.Logger
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	// big is set when the log has passed walRestartFrames.
	big atomic.Bool
}

// walRestartFrames is the log size, in pages, past which the committer
// checkpoints itself: 64 MB of 4 KiB pages, a few seconds of the heaviest
// load, so that the committer pays for it rarely, and briefly since the
// checkpointer has copied most of it.
const walRestartFrames = 16384

// walSizeLimit is journal_size_limit: the size the log file is cut back to
// when it starts again.
const walSizeLimit = 64 << 20

// checkpointEvery spaces checkpoints: each fsyncs the database file, so
// one per group commit would cost more than it saves.
const checkpointEvery = 100 * time.Millisecond

func startCheckpointer(path, syncMode string, log *slog.Logger) (*checkpointer, error) {
	conn, err := sql.Open("sqlite3", dsn(path, url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeoutMS)},
		"_synchronous":  {syncMode},
	}))
	if err != nil {
		return nil, err
	}
	conn.SetMaxOpenConns(1)
	conn.SetConnMaxLifetime(0)
	conn.SetConnMaxIdleTime(0)
	c := &checkpointer{conn: conn, log: log, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c, nil
}

// wake asks for a checkpoint soon; it never blocks.
func (c *checkpointer) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		var busy, frames, copied int64
		if err := c.conn.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
			c.log.Warn("sqlite: checkpoint failed", "err", err)
		} else if frames > walRestartFrames {
			c.big.Store(true)
		}
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
	}
}

// restartWAL checkpoints on the write connection when the checkpointer
// found the log too large. The committer calls it between group commits,
// so that no writer adds frames while it copies; once it has copied every
// frame, the next write transaction starts the log again.
func (db *DB) restartWAL() {
	if !db.checkpointer.big.Load() {
		return
	}
	var busy, frames, copied int64
	if err := db.write.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		db.log.Warn("sqlite: checkpoint failed", "err", err)
		return
	}
	// A reader still on an older snapshot keeps frames in use: try again
	// after the next group commit.
	if busy == 0 && copied == frames {
		db.checkpointer.big.Store(false)
	}
}

// close stops the checkpointer. The write connection, closed last,
// checkpoints whatever is left.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.conn.Close()
}

// goMigrations are the migrations written in Go, between the SQL files by
// version.
func goMigrations() []*goose.Migration {
	return []*goose.Migration{
		// 00021: keys stored before metering's KeySize-byte keys, in the
		// current format (00020 kept their text).
		goose.NewGoMigration(21, &goose.GoFunc{RunTx: rekeyLegacy}, &goose.GoFunc{Mode: goose.TransactionEnabled}),
	}
}

// rekeyLegacy rewrites the records' keys that metering.LegacyKey
// converts, a chunk of rows at a time.
func rekeyLegacy(ctx context.Context, tx *sql.Tx) error {
	const chunk = 10000
	type row struct {
		rowid int64
		key   string
	}
	after := int64(-1 << 63)
	first := true
	for {
		q := `SELECT rowid, key FROM usage_rows WHERE rowid > ? ORDER BY rowid LIMIT ?`
		if first {
			q = `SELECT rowid, key FROM usage_rows WHERE rowid >= ? ORDER BY rowid LIMIT ?`
			first = false
		}
		rows, err := tx.QueryContext(ctx, q, after, chunk)
		if err != nil {
			return err
		}
		var todo []row
		n := 0
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.rowid, &r.key); err != nil {
				rows.Close()
				return err
			}
			n++
			after = r.rowid
			if k, ok := metering.LegacyKey(r.key); ok {
				todo = append(todo, row{r.rowid, k})
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		for _, r := range todo {
			if _, err := tx.ExecContext(ctx, `UPDATE usage_rows SET key = ? WHERE rowid = ?`, []byte(r.key), r.rowid); err != nil {
				return fmt.Errorf("rekey record %d: %w", r.rowid, err)
			}
		}
		if n < chunk {
			return nil
		}
	}
}
