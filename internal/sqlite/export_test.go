package sqlite

import (
	"context"
	"database/sql"
)

// MigrateTo brings the database at path to the schema version, as an older
// meterd would have left it, for tests of the migrations after it.
func MigrateTo(ctx context.Context, path string, version int64) error {
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		return err
	}
	defer raw.Close()
	p, err := newProvider(raw)
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}
