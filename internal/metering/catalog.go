package metering

import "sort"

// Catalog is an immutable, indexed snapshot of the reference data, read on
// every request without touching the store.
type Catalog struct {
	region       string
	accounts     map[string]bool
	keys         map[string]AccessKey
	products     map[string]Product
	byAccount    map[string]Customer // product \x00 account id
	byIdentifier map[string]Customer // product \x00 customer identifier
	byLicense    map[string]Customer // license ARN
	tokens       map[string]RegistrationToken
	state        State
}

// NewCatalog indexes st. Later entries win over earlier ones with the same
// identity, which is how a store's merged state reads.
func NewCatalog(st State) *Catalog {
	c := &Catalog{
		region:       st.Region,
		accounts:     map[string]bool{},
		keys:         map[string]AccessKey{},
		products:     map[string]Product{},
		byAccount:    map[string]Customer{},
		byIdentifier: map[string]Customer{},
		byLicense:    map[string]Customer{},
		tokens:       map[string]RegistrationToken{},
		state:        st,
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
	for _, cu := range st.Customers {
		c.byAccount[cu.Product+"\x00"+cu.AccountID] = cu
		if cu.CustomerIdentifier != "" {
			c.byIdentifier[cu.Product+"\x00"+cu.CustomerIdentifier] = cu
		}
		if cu.LicenseArn != "" {
			c.byLicense[cu.LicenseArn] = cu
		}
	}
	for _, t := range st.RegistrationTokens {
		c.tokens[t.Token] = t
	}
	return c
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
	cu, ok := c.byAccount[product+"\x00"+account]
	return cu, ok
}

// CustomerByIdentifier returns the agreement with a legacy identifier.
func (c *Catalog) CustomerByIdentifier(product, identifier string) (Customer, bool) {
	cu, ok := c.byIdentifier[product+"\x00"+identifier]
	return cu, ok
}

// CustomerByLicense returns the agreement with the given license ARN.
func (c *Catalog) CustomerByLicense(arn string) (Customer, bool) {
	cu, ok := c.byLicense[arn]
	return cu, ok
}

// RegistrationToken returns the token with the given text.
func (c *Catalog) RegistrationToken(token string) (RegistrationToken, bool) {
	t, ok := c.tokens[token]
	return t, ok
}

// Customers returns the product's customers sorted by account id.
func (c *Catalog) Customers(product string) []Customer {
	var out []Customer
	for _, cu := range c.byAccount {
		if cu.Product == product {
			out = append(out, cu)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AccountID < out[j].AccountID })
	return out
}
