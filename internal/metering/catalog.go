package metering

import (
	"hash/maphash"
	"sort"
)

// Catalog is an immutable, indexed snapshot of the reference data, read on
// every request without touching the store.
//
// Customers are kept once, in state.Customers, and indexed by position
// (positions): with a million customers, a copy of the Customer in each
// of three maps, under concatenated string keys, was most of meterd's
// memory.
type Catalog struct {
	region    string
	accounts  map[string]bool
	keys      map[string]AccessKey
	products  map[string]Product
	customers customerIndex // of state.Customers
	tokens    map[string]RegistrationToken
	state     State
}

// NewCatalog indexes st. Later entries win over earlier ones with the same
// identity, which is how a store's merged state reads. The catalog keeps
// st: its caller must not change it afterwards.
func NewCatalog(st State) *Catalog {
	c := &Catalog{
		region:   st.Region,
		accounts: map[string]bool{},
		keys:     map[string]AccessKey{},
		products: map[string]Product{},
		tokens:   map[string]RegistrationToken{},
		state:    st,
	}
	for _, a := range st.Accounts {
		c.accounts[a.ID] = true
		for _, k := range a.AccessKeys {
			k.AccountID = a.ID
			c.keys[k.ID] = k
		}
	}
	for _, p := range st.Products {
		c.products[p.Code] = p
	}

	c.customers = newCustomerIndex(st.Customers)
	for i := range st.Customers {
		c.customers.add(st.Customers, i)
	}
	for _, t := range st.RegistrationTokens {
		c.tokens[t.Token] = t
	}
	return c
}

// customerIndex finds customers by account id and by customer identifier
// within a product, and by license ARN.
type customerIndex struct {
	byAccount    map[string]*positions
	byIdentifier map[string]*positions
	byLicense    *positions
}

// newCustomerIndex makes an empty index sized for cs, which spares the
// garbage of growing it.
func newCustomerIndex(cs []Customer) customerIndex {
	accounts, identifiers, licenses := map[string]int{}, map[string]int{}, 0
	for i := range cs {
		accounts[cs[i].Product]++
		if cs[i].CustomerIdentifier != "" {
			identifiers[cs[i].Product]++
		}
		if cs[i].LicenseArn != "" {
			licenses++
		}
	}
	seed := maphash.MakeSeed()
	x := customerIndex{byAccount: map[string]*positions{}, byIdentifier: map[string]*positions{}}
	for p, n := range accounts {
		x.byAccount[p] = newPositions(seed, n, accountOf)
	}
	for p, n := range identifiers {
		x.byIdentifier[p] = newPositions(seed, n, identifierOf)
	}
	x.byLicense = newPositions(seed, licenses, licenseOf)
	return x
}

// add indexes cs[i], which replaces any earlier customer with the same
// account, identifier or license ARN, and reports which it replaced.
func (x *customerIndex) add(cs []Customer, i int) (account, identifier, license bool) {
	c := &cs[i]
	account = x.byAccount[c.Product].put(cs, i)
	if c.CustomerIdentifier != "" {
		identifier = x.byIdentifier[c.Product].put(cs, i)
	}
	if c.LicenseArn != "" {
		license = x.byLicense.put(cs, i)
	}
	return account, identifier, license
}

func accountOf(c *Customer) string    { return c.AccountID }
func identifierOf(c *Customer) string { return c.CustomerIdentifier }
func licenseOf(c *Customer) string    { return c.LicenseArn }

// positions finds customers by one of their strings: an open-addressing
// hash table of positions in the catalog's customers, which hold the keys.
// It takes 8 to 16 bytes a customer where a map[string]int32 takes about
// 56, which at a million customers is a third of the catalog.
type positions struct {
	seed  maphash.Seed
	key   func(*Customer) string
	slots []int32 // position + 1, 0 for a free slot; at most half full
}

func newPositions(seed maphash.Seed, n int, key func(*Customer) string) *positions {
	size := 8
	for size < 2*n {
		size *= 2
	}
	return &positions{seed: seed, key: key, slots: make([]int32, size)}
}

// put indexes cs[i] in place of any earlier customer with its key and
// reports whether there was one. Positions are int32, which bounds a
// catalog to 2^31-1 customers, far more than fit in memory.
func (p *positions) put(cs []Customer, i int) (replaced bool) {
	k := p.key(&cs[i])
	mask := uint64(len(p.slots) - 1)
	for j := maphash.String(p.seed, k) & mask; ; j = (j + 1) & mask {
		s := p.slots[j]
		if s == 0 || p.key(&cs[s-1]) == k {
			p.slots[j] = int32(i + 1)
			return s != 0
		}
	}
}

// find returns the position in cs of the customer with key k.
func (p *positions) find(cs []Customer, k string) (int, bool) {
	if p == nil {
		return 0, false
	}
	mask := uint64(len(p.slots) - 1)
	for j := maphash.String(p.seed, k) & mask; ; j = (j + 1) & mask {
		s := p.slots[j]
		if s == 0 {
			return 0, false
		}
		if p.key(&cs[s-1]) == k {
			return int(s - 1), true
		}
	}
}

// customer returns the customer at position i, if a lookup found one.
func (c *Catalog) customer(i int, ok bool) (Customer, bool) {
	if !ok {
		return Customer{}, false
	}
	return c.state.Customers[i], true
}

// State returns the snapshot's reference data.
func (c *Catalog) State() State { return c.state }

// AccessKey returns the key with the given id.
func (c *Catalog) AccessKey(id string) (AccessKey, bool) {
	k, ok := c.keys[id]
	return k, ok
}

// Product returns the product with the given code.
func (c *Catalog) Product(code string) (Product, bool) {
	p, ok := c.products[code]
	return p, ok
}

// CustomerByAccount returns account's agreement for product.
func (c *Catalog) CustomerByAccount(product, account string) (Customer, bool) {
	return c.customer(c.customers.byAccount[product].find(c.state.Customers, account))
}

// CustomerByIdentifier returns the agreement with a legacy identifier.
func (c *Catalog) CustomerByIdentifier(product, identifier string) (Customer, bool) {
	return c.customer(c.customers.byIdentifier[product].find(c.state.Customers, identifier))
}

// CustomerByLicense returns the agreement with the given license ARN.
func (c *Catalog) CustomerByLicense(arn string) (Customer, bool) {
	return c.customer(c.customers.byLicense.find(c.state.Customers, arn))
}

// RegistrationToken returns the token with the given text.
func (c *Catalog) RegistrationToken(token string) (RegistrationToken, bool) {
	t, ok := c.tokens[token]
	return t, ok
}

// Customers returns the product's customers sorted by account id.
func (c *Catalog) Customers(product string) []Customer {
	p := c.customers.byAccount[product]
	if p == nil {
		return nil
	}
	var out []Customer
	for _, s := range p.slots {
		if s != 0 {
			out = append(out, c.state.Customers[s-1])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AccountID < out[j].AccountID })
	return out
}
