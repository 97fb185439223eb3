package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Moving the audit log out of the main file. Main migration 00011 created
// audit_events and metering_attempts in the main file; they now live in
// the audit file. The move cannot be a main migration: those run on every
// Open of the main file (meterd migrate, meterd usage), which knows nothing
// of the audit file, and a migration that dropped the tables there would
// lose their rows. So the main migrations still create the two tables, and
// OpenAudit, given the main DB, moves them in three steps, each its own
// transaction, that a crash may interrupt anywhere:
//
//  1. The main file gets a random token (setting auditMoveSetting), unless
//     an interrupted move left one.
//  2. In one transaction of the audit file, with the main file attached
//     read-only: unless moved_in already has the token, every row of the
//     two tables is copied and the token is added to moved_in.
//  3. The main file drops the two tables and the token, in one
//     transaction.
//
// Interrupted before 2 commits, the next start copies from scratch (the
// copy rolled back whole); after, it finds the token in moved_in and only
// drops. The token names one main file, so a second old file moved into
// the same audit file is copied too; so is a backup of the main file from
// before the move, restored without the audit file it was moved into,
// which copies its rows there a second time. Once moved, the main file
// has no audit tables and OpenAudit only checks that; a new main file gets
// them from 00011, empty, and loses them at its first start.
//
// The copy is one transaction, not chunks that a crash could split: a
// chunk's end would be a rowid, and VACUUM renumbers the rowids of
// metering_attempts. A large audit log makes a large WAL once, truncated
// after the copy.

// auditMoveSetting is the main file's setting holding the move's token.
const auditMoveSetting = "audit_move_token"

// legacyAuditTables are the main file's audit tables, as 00011 made them.
var legacyAuditTables = []string{"audit_events", "metering_attempts"}

// filePath is the file the main database is in, as SQLite resolved it.
func (db *DB) filePath(ctx context.Context) (string, error) {
	var path string
	if err := db.read.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		return "", fmt.Errorf("main database file: %w", err)
	}
	return path, nil
}

// legacyTables returns which of legacyAuditTables the main file still has.
func (db *DB) legacyTables(ctx context.Context) (map[string]bool, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN (?, ?)`,
		legacyAuditTables[0], legacyAuditTables[1])
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		have[name] = true
	}
	return have, rows.Err()
}

// moveFrom moves the audit tables of main, in the file mainPath, into db.
func (db *AuditDB) moveFrom(ctx context.Context, main *DB, mainPath string, hook func(string) error) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("move the audit log out of %s: %w", mainPath, err)
		}
	}()
	if hook == nil {
		hook = func(string) error { return nil }
	}
	have, err := main.legacyTables(ctx)
	if err != nil || len(have) == 0 {
		return err
	}
	tok, err := main.PutSettingIfAbsent(ctx, auditMoveSetting, rand.Text())
	if err != nil {
		return err
	}
	if err := hook("token"); err != nil {
		return err
	}
	start := time.Now()
	events, attempts, copied, err := db.copyLegacy(ctx, mainPath, tok, have)
	if err != nil {
		return err
	}
	if err := hook("copied"); err != nil {
		return err
	}
	if err := main.dropLegacy(ctx); err != nil {
		return err
	}
	// A new database's empty tables are dropped without a word: there was
	// nothing to move.
	if copied && events+attempts > 0 {
		db.log.Info("sqlite: moved the audit log to its own file", "from", mainPath, "to", db.path,
			"events", events, "attempts", attempts, "duration", time.Since(start))
	}
	return nil
}

// copyLegacy is step 2: it copies the tables have names from the main file
// at mainPath, unless the move of token did already. copied says whether
// this call copied.
func (db *AuditDB) copyLegacy(ctx context.Context, mainPath, token string, have map[string]bool) (events, attempts int64, copied bool, err error) {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return 0, 0, false, err
	}
	defer conn.Close()
	// In this connection "main" is the audit file and "legacy" the main
	// file; mode=ro keeps the copy from locking the main file for writing.
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS legacy`, dsn(mainPath, url.Values{"mode": {"ro"}})); err != nil {
		return 0, 0, false, err
	}
	events, attempts, copied, err = copyAttached(ctx, conn, mainPath, token, have)
	// Detached on every path: the connection goes back to the pool and
	// serves AppendAudit next.
	if derr := detach(conn); derr != nil {
		return 0, 0, false, errors.Join(err, derr)
	}
	if err != nil || !copied {
		return events, attempts, copied, err
	}
	// The copy went through the WAL; give that room back.
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		db.log.Warn("sqlite: checkpoint after moving the audit log", "err", err)
	}
	return events, attempts, true, nil
}

func detach(conn *sql.Conn) error {
	_, err := conn.ExecContext(context.Background(), `DETACH DATABASE legacy`)
	return err
}

func copyAttached(ctx context.Context, conn *sql.Conn, mainPath, token string, have map[string]bool) (events, attempts int64, copied bool, err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, false, err
	}
	defer func() {
		if err != nil || !copied {
			_ = tx.Rollback() // the error that matters is err
		}
	}()
	var done int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM main.moved_in WHERE token = ?`, token).Scan(&done); err != nil {
		return 0, 0, false, err
	}
	if done > 0 {
		return 0, 0, false, nil
	}
	// ORDER BY keeps the order of events of one millisecond: their new seq
	// follows the old one.
	if have["audit_events"] {
		if events, err = execTx(ctx, tx, `INSERT INTO main.audit_events
	(event_ms, event_source, event_name, account_id, access_key_id, error_code, event)
SELECT event_ms, event_source, event_name, account_id, access_key_id, error_code, event
FROM legacy.audit_events ORDER BY seq`); err != nil {
			return 0, 0, false, err
		}
	}
	if have["metering_attempts"] {
		if attempts, err = execTx(ctx, tx, `INSERT INTO main.metering_attempts
	(at_ms, hour, product_code, customer_account_id, customer_identifier, license_arn, attempt)
SELECT at_ms, hour, product_code, customer_account_id, customer_identifier, license_arn, attempt
FROM legacy.metering_attempts ORDER BY rowid`); err != nil {
			return 0, 0, false, err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO main.moved_in (token, at_ms, source, events, attempts) VALUES (?, ?, ?, ?, ?)`,
		token, time.Now().UnixMilli(), mainPath, events, attempts); err != nil {
		return 0, 0, false, err
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, false, err
	}
	return events, attempts, true, nil
}

func execTx(ctx context.Context, tx *sql.Tx, q string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// dropLegacy is step 3, on the main file's write connection, so that it
// runs between two group commits.
func (db *DB) dropLegacy(ctx context.Context) (err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that matters is err
		}
	}()
	for _, table := range legacyAuditTables {
		if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+table); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM settings WHERE name = ?`, auditMoveSetting); err != nil {
		return err
	}
	return tx.Commit()
}
