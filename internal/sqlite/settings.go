package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/meterd/meterd/internal/metering"
)

var _ metering.SettingsStore = (*DB)(nil)

// Setting returns the value of a named setting.
func (db *DB) Setting(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := db.read.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("sqlite: setting %s: %w", name, err)
	}
	return v, true, nil
}

// PutSettingIfAbsent stores a setting unless it is set, and returns the
// stored value.
func (db *DB) PutSettingIfAbsent(ctx context.Context, name, value string) (v string, err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("sqlite: put setting %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			err = fmt.Errorf("sqlite: put setting %s: %w", name, err)
		}
	}()
	if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
		return "", err
	}
	if err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v); err != nil {
		return "", err
	}
	return v, tx.Commit()
}

// StateVersion is bumped by every ApplyState.
func (db *DB) StateVersion(ctx context.Context) (int64, error) {
	v, _, err := db.Setting(ctx, "state_version")
	if err != nil || v == "" {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}
