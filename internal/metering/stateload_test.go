package metering

import "testing"

// TestCustomerFinder checks that entitlements in the customers' order are
// found by walking, and that any other order still finds them.
func TestCustomerFinder(t *testing.T) {
	cs := []Customer{
		{Product: "a", AccountID: "1"}, {Product: "a", AccountID: "2"}, {Product: "b", AccountID: "1"},
	}
	f := CustomerFinder{Customers: cs}
	for _, tc := range []struct {
		product, account string
		want             int
		ok               bool
	}{
		{"a", "1", 0, true},
		{"a", "1", 0, true}, // a second entitlement of the same customer
		{"a", "2", 1, true},
		{"b", "1", 2, true},
		{"a", "1", 0, true}, // out of order: through the index
		{"c", "1", 0, false},
		{"a", "2", 1, true},
	} {
		got, ok := f.Find(tc.product, tc.account)
		if got != tc.want || ok != tc.ok {
			t.Errorf("find(%s, %s) = %d, %v; want %d, %v", tc.product, tc.account, got, ok, tc.want, tc.ok)
		}
	}
}
