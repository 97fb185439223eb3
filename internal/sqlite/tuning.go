package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
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
			_, err := c.Exec(fmt.Sprintf("PRAGMA temp_store = MEMORY; PRAGMA cache_size = -%d; PRAGMA wal_autocheckpoint = 0", writeCacheKiB), nil)
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
type checkpointer struct {
	conn *sql.DB
	log  *slog.Logger
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

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
		}
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointEvery):
		}
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
