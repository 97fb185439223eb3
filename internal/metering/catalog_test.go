package metering_test

import (
	"fmt"
	"testing"

	"github.com/meterd/meterd/internal/metering"
)

func TestCatalogCustomers(t *testing.T) {
	st := metering.State{Customers: []metering.Customer{
		{Product: "p1", AccountID: "300000000002", CustomerIdentifier: "c2", Status: metering.StatusSubscribed},
		{Product: "p1", AccountID: "300000000001", CustomerIdentifier: "c1", LicenseArn: license1, Status: metering.StatusSubscribed},
		{Product: "p2", AccountID: "300000000001", CustomerIdentifier: "c1", Status: metering.StatusUnsubscribed},
		// A later entry for the same account wins; the identifier it
		// drops still finds the earlier entry, as it always did.
		{Product: "p1", AccountID: "300000000002", CustomerIdentifier: "c2b", LicenseArn: license2, Status: metering.StatusSubscribeFail},
	}}
	cat := metering.NewCatalog(st)

	lookups := []struct {
		name   string
		get    func() (metering.Customer, bool)
		want   string // "product/account/identifier/status", "" for none
		wantOK bool
	}{
		{"ByAccount", func() (metering.Customer, bool) { return cat.CustomerByAccount("p1", "300000000001") }, "p1/300000000001/c1/subscribed", true},
		{"ByAccountLaterWins", func() (metering.Customer, bool) { return cat.CustomerByAccount("p1", "300000000002") }, "p1/300000000002/c2b/subscribe-fail", true},
		{"ByAccountOtherProduct", func() (metering.Customer, bool) { return cat.CustomerByAccount("p2", "300000000001") }, "p2/300000000001/c1/unsubscribed", true},
		{"ByAccountUnknown", func() (metering.Customer, bool) { return cat.CustomerByAccount("p2", "300000000002") }, "", false},
		{"ByAccountNoProduct", func() (metering.Customer, bool) { return cat.CustomerByAccount("p3", "300000000001") }, "", false},
		{"ByIdentifier", func() (metering.Customer, bool) { return cat.CustomerByIdentifier("p2", "c1") }, "p2/300000000001/c1/unsubscribed", true},
		{"ByIdentifierEarlier", func() (metering.Customer, bool) { return cat.CustomerByIdentifier("p1", "c2") }, "p1/300000000002/c2/subscribed", true},
		{"ByIdentifierLater", func() (metering.Customer, bool) { return cat.CustomerByIdentifier("p1", "c2b") }, "p1/300000000002/c2b/subscribe-fail", true},
		{"ByIdentifierEmpty", func() (metering.Customer, bool) { return cat.CustomerByIdentifier("p1", "") }, "", false},
		{"ByLicense", func() (metering.Customer, bool) { return cat.CustomerByLicense(license2) }, "p1/300000000002/c2b/subscribe-fail", true},
		{"ByLicenseEmpty", func() (metering.Customer, bool) { return cat.CustomerByLicense("") }, "", false},
	}
	for _, tc := range lookups {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := tc.get()
			got := ""
			if ok {
				got = fmt.Sprintf("%s/%s/%s/%s", c.Product, c.AccountID, c.CustomerIdentifier, c.Status)
			}
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}

	t.Run("Customers", func(t *testing.T) {
		var got []string
		for _, c := range cat.Customers("p1") {
			got = append(got, c.AccountID+"/"+c.CustomerIdentifier)
		}
		want := []string{"300000000001/c1", "300000000002/c2b"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Customers(p1) = %v, want %v", got, want)
		}
		if cs := cat.Customers("p3"); cs != nil {
			t.Errorf("Customers(p3) = %v, want none", cs)
		}
	})
}

// TestCatalogManyCustomers checks every lookup on more customers, over
// several products, than fill the smallest index.
func TestCatalogManyCustomers(t *testing.T) {
	var st metering.State
	for i := range 5000 {
		st.Customers = append(st.Customers, metering.Customer{
			Product:            fmt.Sprintf("p%d", i%7),
			AccountID:          fmt.Sprintf("%012d", i),
			CustomerIdentifier: fmt.Sprintf("id-%d", i),
			LicenseArn:         fmt.Sprintf("arn:aws:license-manager::%012d:license:l-%d", i, i),
		})
	}
	cat := metering.NewCatalog(st)
	for i, want := range st.Customers {
		if c, ok := cat.CustomerByAccount(want.Product, want.AccountID); !ok || c.CustomerIdentifier != want.CustomerIdentifier {
			t.Fatalf("CustomerByAccount(%d) = %v, %v", i, c, ok)
		}
		if c, ok := cat.CustomerByIdentifier(want.Product, want.CustomerIdentifier); !ok || c.AccountID != want.AccountID {
			t.Fatalf("CustomerByIdentifier(%d) = %v, %v", i, c, ok)
		}
		if c, ok := cat.CustomerByLicense(want.LicenseArn); !ok || c.AccountID != want.AccountID {
			t.Fatalf("CustomerByLicense(%d) = %v, %v", i, c, ok)
		}
		if _, ok := cat.CustomerByAccount(want.Product, want.AccountID+"x"); ok {
			t.Fatalf("CustomerByAccount(%d, unknown) found one", i)
		}
	}
	n := 0
	for p := range 7 {
		n += len(cat.Customers(fmt.Sprintf("p%d", p)))
	}
	if n != len(st.Customers) {
		t.Errorf("Customers of all products: %d, want %d", n, len(st.Customers))
	}
}
