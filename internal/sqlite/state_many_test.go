package sqlite_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meterd/meterd/internal/metering"
)

// manyCustomers is a state of n customers over two products, every third
// with two entitlements, listed out of the stores' order.
func manyCustomers(n int) metering.State {
	st := metering.State{
		Accounts: []metering.Account{{ID: "111111111111", Name: "seller"}},
		Products: []metering.Product{
			{Code: "Prod-B", Seller: "111111111111", Type: metering.ProductSaaS, Agreements: metering.AgreementsBoth, Dimensions: []string{"users", "gb"}},
			{Code: "prod-a", Seller: "111111111111", Type: metering.ProductSaaS, Agreements: metering.AgreementsBoth, Dimensions: []string{"users", "gb"}},
		},
	}
	for i := n - 1; i >= 0; i-- {
		c := metering.Customer{
			Product:            []string{"prod-a", "Prod-B"}[i%2],
			AccountID:          fmt.Sprintf("%012d", 300000000000+i),
			CustomerIdentifier: fmt.Sprintf("cust-%d", i),
			Status:             metering.StatusSubscribed,
		}
		if i%3 == 0 {
			v1, v2 := int64(i), fmt.Sprint("tier-", i)
			c.Entitlements = []metering.Entitlement{
				{Dimension: "users", Value: metering.EntitlementValue{Integer: &v1}},
				{Dimension: "gb", Value: metering.EntitlementValue{String: &v2}},
			}
		}
		st.Customers = append(st.Customers, c)
	}
	return st
}

// checkManyCustomers checks that got holds want's customers, each with
// its own entitlements.
func checkManyCustomers(t *testing.T, got, want metering.State) {
	t.Helper()
	if len(got.Customers) != len(want.Customers) {
		t.Fatalf("loaded %d customers, want %d", len(got.Customers), len(want.Customers))
	}
	cat := metering.NewCatalog(got)
	for _, w := range want.Customers {
		c, ok := cat.CustomerByAccount(w.Product, w.AccountID)
		if !ok {
			t.Fatalf("customer %s of %s not loaded", w.AccountID, w.Product)
		}
		if c.CustomerIdentifier != w.CustomerIdentifier || c.Status != w.Status || len(c.Entitlements) != len(w.Entitlements) {
			t.Fatalf("customer %s of %s: got %+v, want %+v", w.AccountID, w.Product, c, w)
		}
		for i, e := range c.Entitlements {
			we := w.Entitlements[i]
			if e.Dimension != we.Dimension || fmt.Sprint(deref(e.Value)) != fmt.Sprint(deref(we.Value)) {
				t.Fatalf("customer %s of %s: entitlement %d: got %+v, want %+v", w.AccountID, w.Product, i, e, we)
			}
		}
	}
}

func deref(v metering.EntitlementValue) []any {
	var out []any
	if v.Integer != nil {
		out = append(out, *v.Integer)
	}
	if v.String != nil {
		out = append(out, *v.String)
	}
	return out
}

// TestStateManyCustomers applies and loads more customers than the
// conformance suite: LoadState finds each entitlement's customer by
// walking both in the same order, and ApplyState names the statement
// that failed.
func TestStateManyCustomers(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "meterd.db"))
	defer db.Close()
	want := manyCustomers(3000)
	if err := db.ApplyState(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	got, err := db.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	checkManyCustomers(t, got, want)

	bad := manyCustomers(3000)
	bad.Customers[2500].Product = "prod-none"
	err = db.ApplyState(t.Context(), bad)
	name := fmt.Sprintf("customer %s of prod-none", bad.Customers[2500].AccountID)
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("apply with an unknown product: %v, want an error naming %q", err, name)
	}
	got, err = db.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	checkManyCustomers(t, got, want)
}
