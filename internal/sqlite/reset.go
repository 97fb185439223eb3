package sqlite

import (
	"context"
	"fmt"

	"github.com/meterd/meterd/internal/metering"
)

var _ metering.UsageWiper = (*DB)(nil)

// WipeUsage deletes every usage record and registration in one
// transaction on the write connection, so that it runs between two group
// commits: a call is wiped or kept whole.
func (db *DB) WipeUsage(ctx context.Context) (n int64, err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: wipe usage: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that matters is err
			err = fmt.Errorf("sqlite: wipe usage: %w", err)
		}
	}()
	// The keys first, so that the rows' delete trigger finds none; the
	// committer's in-memory keys go stale (keys.go), and the next group
	// commit starts them again from the database, wiped or not.
	db.keys.stale.Store(true)
	if _, err = tx.ExecContext(ctx, `DELETE FROM usage_keys; DELETE FROM usage_key_marks`); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM usage_rows`)
	if err != nil {
		return 0, err
	}
	if n, err = res.RowsAffected(); err != nil {
		return 0, err
	}
	if _, err = tx.ExecContext(ctx, `DELETE FROM registrations`); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}
