package loadgen_test

import (
	"testing"
	"time"

	"github.com/meterd/meterd/internal/loadgen"
	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/statefile"
)

// TestBaseStateLeavesOutOnlyTheSaaSCustomers checks that the base state
// file plus SaaSCustomers is the full state file, so that a run whose
// customers come through the service meters against the same state.
func TestBaseStateLeavesOutOnlyTheSaaSCustomers(t *testing.T) {
	now := time.Now()
	full, err := statefile.Parse("full", fixture.StateYAML(), now)
	if err != nil {
		t.Fatal(err)
	}
	base, err := statefile.Parse("base", fixture.BaseStateYAML(), now)
	if err != nil {
		t.Fatal(err)
	}
	var saas []metering.Customer
	for _, c := range full.State.Customers {
		if c.Product == loadgen.SaaSProduct {
			saas = append(saas, c)
		}
	}
	if got, want := len(base.State.Customers), len(full.State.Customers)-len(saas); got != want {
		t.Errorf("base state has %d customers, want the %d that are not the SaaS product's", got, want)
	}
	for _, c := range base.State.Customers {
		if c.Product == loadgen.SaaSProduct {
			t.Errorf("base state has SaaS customer %+v", c)
		}
	}
	if len(base.State.Accounts) != len(full.State.Accounts) || len(base.State.Products) != len(full.State.Products) {
		t.Errorf("base state has %d accounts and %d products, full %d and %d", len(base.State.Accounts), len(base.State.Products), len(full.State.Accounts), len(full.State.Products))
	}
	cs := fixture.SaaSCustomers()
	if len(cs) != len(saas) || len(cs) != fixture.Customers {
		t.Fatalf("SaaSCustomers gives %d, the state file %d, the fixture %d", len(cs), len(saas), fixture.Customers)
	}
	for i, c := range cs {
		if c.AccountID != saas[i].AccountID || c.Identifier != saas[i].CustomerIdentifier || saas[i].Status != metering.StatusSubscribed {
			t.Errorf("customer %d: SaaSCustomers %+v, state file %+v", i, c, saas[i])
		}
	}
}
