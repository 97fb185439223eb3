package metering

// Helpers for stores that read a State back from their tables: a million
// customers should cost one copy of each, not several.

// Interner keeps one copy of each string it is given, for columns whose
// few values repeat over many rows: product codes, statuses, dimensions.
type Interner map[string]string

// Get returns the kept copy of s, keeping s if it is new.
func (in Interner) Get(s string) string {
	if v, ok := in[s]; ok {
		return v
	}
	in[s] = s
	return s
}

// CustomerFinder finds the customer of each entitlement in Customers,
// which were read in the same order as the entitlements: by walking
// forward, not through an index of a million customers. If the orders
// ever disagree, it falls back to an index.
type CustomerFinder struct {
	Customers []Customer
	next      int
	index     map[[2]string]int
}

// Find returns the position in Customers of the customer of product and
// account, and false if there is none.
func (f *CustomerFinder) Find(product, account string) (int, bool) {
	if f.index == nil {
		for ; f.next < len(f.Customers); f.next++ {
			if c := &f.Customers[f.next]; c.Product == product && c.AccountID == account {
				return f.next, true
			}
		}
		f.index = make(map[[2]string]int, len(f.Customers))
		for i := range f.Customers {
			f.index[[2]string{f.Customers[i].Product, f.Customers[i].AccountID}] = i
		}
	}
	i, ok := f.index[[2]string{product, account}]
	return i, ok
}
