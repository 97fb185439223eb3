package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/audit/audittest"
)

func TestAuditStore(t *testing.T) {
	audittest.RunStoreTests(t, func(t *testing.T) audit.Store {
		db := open(t, filepath.Join(t.TempDir(), "meterd.db"))
		t.Cleanup(func() { db.Close() })
		return db
	})
}
