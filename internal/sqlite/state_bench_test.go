package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metering/meteringtest"
)

// BenchmarkApplyState1MCustomers: a million customers, the most `meterd
// bench -scaling` goes up to (meteringtest.BenchmarkApplyState).
func BenchmarkApplyState1MCustomers(b *testing.B) {
	meteringtest.BenchmarkApplyState(b, 1_000_000, func(b *testing.B) metering.Store {
		return open(b, filepath.Join(b.TempDir(), "meterd.db"))
	})
}
