// Package meteringtest helps test code that uses a metering.Store: MemStore
// is an in-memory Store for fast tests of the Service and the front ends, and
// RunStoreTests is the conformance suite every Store implementation runs.
//
// The suite, not each backend's own tests, is where the Store contract is
// pinned down, so that SQLite, PostgreSQL and MemStore cannot drift apart.
// MemStore passes it too: a test that passes against MemStore means the
// same against a real database.
package meteringtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// ErrClosed is returned by a MemStore after Close.
var ErrClosed = errors.New("meteringtest: store is closed")

// MemStore is a metering.Store that keeps everything in memory. It is safe
// for concurrent use. It stores times at millisecond precision in UTC, as the
// SQL stores do, so that tests see the same values whichever store they run
// against.
type MemStore struct {
	mu        sync.Mutex
	closed    bool
	region    string
	accounts  map[string]string // id → name
	keys      map[string]metering.AccessKey
	products  map[string]metering.Product
	customers map[custKey]metering.Customer
	tokens    map[string]metering.RegistrationToken
	records   map[string]metering.Record // by Key
}

type custKey struct{ product, account string }

var _ metering.Store = (*MemStore)(nil)

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{
		accounts:  map[string]string{},
		keys:      map[string]metering.AccessKey{},
		products:  map[string]metering.Product{},
		customers: map[custKey]metering.Customer{},
		tokens:    map[string]metering.RegistrationToken{},
		records:   map[string]metering.Record{},
	}
}

// ApplyState inserts or replaces the entities named in st. Access keys are
// entities of their own: naming an account does not drop its other keys.
func (m *MemStore) ApplyState(ctx context.Context, st metering.State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	// As the SQL stores' foreign keys do, and before changing anything: a
	// state that fails changes nothing.
	for _, c := range st.Customers {
		if _, ok := m.products[c.Product]; !ok && !slices.ContainsFunc(st.Products, func(p metering.Product) bool { return p.Code == c.Product }) {
			return fmt.Errorf("meteringtest: customer %s of %s: no such product", c.AccountID, c.Product)
		}
	}
	if st.Region != "" {
		m.region = st.Region
	}
	for _, a := range st.Accounts {
		m.accounts[a.ID] = a.Name
		for _, k := range a.AccessKeys {
			k.AccountID = a.ID
			m.keys[k.ID] = k
		}
	}
	for _, p := range st.Products {
		p.Dimensions = slices.Clone(p.Dimensions)
		p.PublicKeyVersions = slices.Clone(p.PublicKeyVersions)
		m.products[p.Code] = p
	}
	for _, c := range st.Customers {
		c.Entitlements = copyEntitlements(c.Entitlements)
		m.customers[custKey{c.Product, c.AccountID}] = c
	}
	for _, t := range st.RegistrationTokens {
		t.ExpiresAt = Millis(t.ExpiresAt)
		m.tokens[t.Token] = t
	}
	return nil
}

// LoadState returns all reference data, sorted by id, code or token.
func (m *MemStore) LoadState(ctx context.Context) (metering.State, error) {
	if err := ctx.Err(); err != nil {
		return metering.State{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return metering.State{}, ErrClosed
	}
	st := metering.State{Region: m.region}
	byAccount := map[string][]metering.AccessKey{}
	for _, k := range m.keys {
		byAccount[k.AccountID] = append(byAccount[k.AccountID], k)
	}
	for id, name := range m.accounts {
		keys := byAccount[id]
		slices.SortFunc(keys, func(a, b metering.AccessKey) int { return cmp.Compare(a.ID, b.ID) })
		st.Accounts = append(st.Accounts, metering.Account{ID: id, Name: name, AccessKeys: keys})
	}
	slices.SortFunc(st.Accounts, func(a, b metering.Account) int { return cmp.Compare(a.ID, b.ID) })
	for _, p := range m.products {
		p.Dimensions = slices.Clone(p.Dimensions)
		p.PublicKeyVersions = slices.Clone(p.PublicKeyVersions)
		st.Products = append(st.Products, p)
	}
	slices.SortFunc(st.Products, func(a, b metering.Product) int { return cmp.Compare(a.Code, b.Code) })
	for _, c := range m.customers {
		c.Entitlements = copyEntitlements(c.Entitlements)
		st.Customers = append(st.Customers, c)
	}
	slices.SortFunc(st.Customers, func(a, b metering.Customer) int {
		return cmp.Or(cmp.Compare(a.Product, b.Product), cmp.Compare(a.AccountID, b.AccountID))
	})
	for _, t := range m.tokens {
		st.RegistrationTokens = append(st.RegistrationTokens, t)
	}
	slices.SortFunc(st.RegistrationTokens, func(a, b metering.RegistrationToken) int { return cmp.Compare(a.Token, b.Token) })
	return st, nil
}

// PutRecords stores the records whose Key is new. Holding the lock for the
// whole call is what makes it atomic and serial, as the contract asks.
func (m *MemStore) PutRecords(ctx context.Context, recs []metering.Record) ([]metering.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := make([]metering.Record, len(recs))
	for i, r := range recs {
		if old, ok := m.records[r.Key]; ok {
			out[i] = copyRecord(old)
			continue
		}
		m.records[r.Key] = StoredRecord(r)
		out[i] = r
	}
	return out, nil
}

// UsageSummary sums the stored records by product, customer, dimension and
// hour.
func (m *MemStore) UsageSummary(ctx context.Context, f metering.UsageFilter) ([]metering.UsageRow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	type group struct {
		product, account, identifier, license, dimension string
		hour                                             int64
	}
	sums := map[group]*metering.UsageRow{}
	for _, r := range m.records {
		hour := r.Timestamp.Truncate(time.Hour)
		switch {
		case f.ProductCode != "" && r.ProductCode != f.ProductCode,
			f.Customer != "" && r.CustomerAccountID != f.Customer && r.CustomerIdentifier != f.Customer && r.LicenseArn != f.Customer,
			f.Dimension != "" && r.Dimension != f.Dimension,
			!f.From.IsZero() && hour.Before(f.From),
			!f.To.IsZero() && !hour.Before(f.To):
			continue
		}
		g := group{r.ProductCode, r.CustomerAccountID, r.CustomerIdentifier, r.LicenseArn, r.Dimension, hour.Unix()}
		row := sums[g]
		if row == nil {
			row = &metering.UsageRow{
				ProductCode:        r.ProductCode,
				CustomerAccountID:  r.CustomerAccountID,
				CustomerIdentifier: r.CustomerIdentifier,
				LicenseArn:         r.LicenseArn,
				Dimension:          r.Dimension,
				Hour:               hour.UTC(),
			}
			sums[g] = row
		}
		row.Quantity += r.Quantity
		row.Records++
	}
	rows := make([]metering.UsageRow, 0, len(sums))
	for _, r := range sums {
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, CompareUsageRows)
	return rows, nil
}

// Close makes later calls fail. Calls in progress finish first, since they
// hold the lock Close waits for.
func (m *MemStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// CompareUsageRows orders rows as UsageSummary returns them: by hour,
// product, customer (account id, identifier, license ARN) and dimension,
// comparing strings byte by byte.
func CompareUsageRows(a, b metering.UsageRow) int {
	return cmp.Or(
		a.Hour.Compare(b.Hour),
		cmp.Compare(a.ProductCode, b.ProductCode),
		cmp.Compare(a.CustomerAccountID, b.CustomerAccountID),
		cmp.Compare(a.CustomerIdentifier, b.CustomerIdentifier),
		cmp.Compare(a.LicenseArn, b.LicenseArn),
		cmp.Compare(a.Dimension, b.Dimension),
	)
}

// Millis returns t as stores keep it: truncated to the millisecond, in UTC.
// The zero time stays zero.
func Millis(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// StoredRecord returns r as a store gives it back once stored: a deep copy
// with Timestamp and CreatedAt at millisecond precision in UTC.
func StoredRecord(r metering.Record) metering.Record {
	r = copyRecord(r)
	r.Timestamp = Millis(r.Timestamp)
	r.CreatedAt = Millis(r.CreatedAt)
	return r
}

// copyRecord copies r's allocations, keeping nil and empty slices distinct.
func copyRecord(r metering.Record) metering.Record {
	if r.Allocations != nil {
		allocs := make([]metering.Allocation, len(r.Allocations))
		for i, a := range r.Allocations {
			allocs[i] = metering.Allocation{Quantity: a.Quantity, Tags: slices.Clone(a.Tags)}
		}
		r.Allocations = allocs
	}
	return r
}

func copyEntitlements(es []metering.Entitlement) []metering.Entitlement {
	if es == nil {
		return nil
	}
	out := make([]metering.Entitlement, len(es))
	for i, e := range es {
		v := e.Value
		if v.Integer != nil {
			x := *v.Integer
			v.Integer = &x
		}
		if v.Double != nil {
			x := *v.Double
			v.Double = &x
		}
		if v.Boolean != nil {
			x := *v.Boolean
			v.Boolean = &x
		}
		if v.String != nil {
			x := *v.String
			v.String = &x
		}
		out[i] = metering.Entitlement{Dimension: e.Dimension, Value: v, Expires: Millis(e.Expires)}
	}
	return out
}
