package postgres_test

import (
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metering/meteringtest"
	"github.com/meterd/meterd/internal/pgtest"
	"github.com/meterd/meterd/internal/postgres"
)

// BenchmarkApplyState1MCustomers is internal/sqlite's benchmark of the same
// name on PostgreSQL (meteringtest.BenchmarkApplyState). The figures are
// this process's; the server's memory is not in them.
func BenchmarkApplyState1MCustomers(b *testing.B) {
	meteringtest.BenchmarkApplyState(b, 1_000_000, func(b *testing.B) metering.Store {
		// A million customers take longer than the default bound on one
		// database operation.
		db, err := postgres.Open(b.Context(), pgtest.NewDatabase(b), postgres.Options{Timeout: 10 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		return db
	})
}
