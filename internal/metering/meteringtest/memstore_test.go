package meteringtest_test

import (
	"testing"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metering/meteringtest"
)

func TestMemStore(t *testing.T) {
	meteringtest.RunStoreTests(t, func(t *testing.T) metering.Store {
		return meteringtest.NewMemStore()
	})
}
