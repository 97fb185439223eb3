package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/metering"
)

var _ metering.UsageWiper = (*DB)(nil)

// WipeUsage deletes every usage record and registration in one
// transaction. A group commit in flight on any replica is wiped or kept
// whole.
func (db *DB) WipeUsage(ctx context.Context) (n int64, err error) {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM usage_records`)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		// The rollups sum the records, so they go with them. Their names
		// stay: ids never change, and replicas cache them.
		if _, err := tx.Exec(ctx, `DELETE FROM usage_hourly`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM usage_hourly_tags`); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM registrations`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: wipe usage: %w", err)
	}
	return n, nil
}
