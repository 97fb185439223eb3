package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/metering"
)

var _ metering.SettingsStore = (*DB)(nil)

// Setting returns the value of a named setting.
func (db *DB) Setting(ctx context.Context, name string) (string, bool, error) {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	var v string
	err := db.pool.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("postgres: setting %s: %w", name, err)
	}
	return v, true, nil
}

// PutSettingIfAbsent stores a setting unless it is set, and returns the
// stored value. As in PutRecords, insert and read back are two statements,
// so that the read back sees a value another replica committed while the
// insert waited for it.
func (db *DB) PutSettingIfAbsent(ctx context.Context, name, value string) (string, error) {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	var v string
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	})
	if err != nil {
		return "", fmt.Errorf("postgres: put setting %s: %w", name, err)
	}
	return v, nil
}

// StateVersion is bumped by every ApplyState.
func (db *DB) StateVersion(ctx context.Context) (int64, error) {
	v, _, err := db.Setting(ctx, "state_version")
	if err != nil || v == "" {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}
