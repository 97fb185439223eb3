package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/meterd/meterd/internal/reports/reportstest"
)

func TestRollupConformance(t *testing.T) {
	reportstest.RunStoreTests(t, func(t *testing.T) reportstest.Store {
		return open(t, filepath.Join(t.TempDir(), "meterd.db"))
	})
}
