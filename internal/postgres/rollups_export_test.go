package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/metering"
)

// InsertRecordsOnly stores recs in usage_records of the database named by
// dsn as a meterd without rollups did: for tests of the rollups' backfill.
func InsertRecordsOnly(ctx context.Context, dsn string, recs []metering.Record) error {
	args, err := insertArgs(recs)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, insertRecordsSQL, args...)
	return err
}
