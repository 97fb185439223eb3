package meteringtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// RunStoreTests is the conformance suite for metering.Store. Every
// implementation runs it against a real instance; it is the executable form
// of the Store contract:
//
//   - ApplyState/LoadState round trip every field. LoadState sorts accounts
//     by id, access keys by id within their account, products by code,
//     customers by product then account id and tokens by token; it keeps
//     the order of dimensions, public key versions and entitlements, and
//     fills AccessKey.AccountID from the account. Empty and nil lists are
//     equivalent. Times come back at millisecond precision in UTC.
//   - ApplyState upserts: entities st does not name are kept, named ones are
//     replaced whole (a product's dimensions and key versions, a customer's
//     entitlements), access keys count as entities of their own, and an
//     empty Region leaves the stored one.
//   - PutRecords returns the given record for a new Key and the stored one
//     otherwise, with Timestamp and CreatedAt at millisecond precision in
//     UTC and Allocations nil or empty as they were given; it is atomic per
//     call and serial across calls; a context cancelled before the call
//     stores nothing and returns the context's error.
//   - UsageSummary groups by product, customer (account id, identifier,
//     license ARN), dimension and hour (Timestamp truncated to the hour, in
//     UTC) and orders by hour, product, customer and dimension, comparing
//     strings byte by byte (PostgreSQL needs COLLATE "C" for that).
//
// Records stand alone: usage is history and must not need reference data to
// be stored. open must return a new, empty store each time and may be called
// from parallel subtests; the suite closes the stores it opens.
func RunStoreTests(t *testing.T, open func(t *testing.T) metering.Store) {
	s := &suite{open: open}
	t.Run("State", func(t *testing.T) {
		t.Run("Empty", s.stateEmpty)
		t.Run("RoundTrip", s.stateRoundTrip)
		t.Run("ApplyTwice", s.stateApplyTwice)
		t.Run("Partial", s.statePartial)
		t.Run("ManyCustomers", s.stateManyCustomers)
	})
	t.Run("PutRecords", func(t *testing.T) {
		t.Run("New", s.putNew)
		t.Run("Existing", s.putExisting)
		t.Run("SameKeyInOneCall", s.putSameKeyInOneCall)
		t.Run("ConcurrentSameKey", s.putConcurrentSameKey)
		t.Run("AllOrNothing", s.putAllOrNothing)
		t.Run("Canceled", s.putCanceled)
		t.Run("AfterClose", s.putAfterClose)
	})
	t.Run("UsageSummary", s.usageSummary)
}

type suite struct {
	open func(t *testing.T) metering.Store
}

// store opens a fresh store that is closed when the test ends.
func (s *suite) store(t *testing.T) metering.Store {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

func ptr[T any](v T) *T { return &v }

var (
	sellerID = "111111111111"
	buyerID  = "222222222222"
	otherID  = "333333333333"
	license  = "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef"
	// t0 is an hour start; times below carry nanoseconds and zones on
	// purpose, to check what stores keep of them.
	t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
)

// fullState names every field of every entity, in an order LoadState must
// sort.
func fullState() metering.State {
	plus2 := time.FixedZone("plus2", 2*3600)
	return metering.State{
		Region: "eu-west-1",
		Accounts: []metering.Account{
			{ID: buyerID, Name: "Buyer Inc.", AccessKeys: []metering.AccessKey{
				{ID: "AKIABUYER2", Secret: "secret-2", AccountID: buyerID, Resource: "arn:aws:ecs:us-east-1:222222222222:task/cluster/0123456789abcdef", Platform: metering.PlatformECS},
				{ID: "AKIABUYER1", Secret: "secret-1", Resource: "i-0123456789abcdef0", Platform: metering.PlatformEC2},
				{ID: "AKIABUYER3", Secret: "secret-3", AccountID: buyerID, Resource: "agent/runtime-1", Platform: metering.PlatformAgentCore},
			}},
			{ID: sellerID, Name: "Seller Ltd. — ünïcödé", AccessKeys: []metering.AccessKey{
				{ID: "AKIASELLER", Secret: "s3cr3t/with+chars=", AccountID: sellerID, Platform: metering.PlatformEC2},
			}},
			{ID: otherID},
		},
		Products: []metering.Product{
			{Code: "prod-saas", Seller: sellerID, Type: metering.ProductSaaS, Dimensions: []string{"users", "storage.gb", "api calls"}, Agreements: metering.AgreementsConcurrent, PublicKeyVersions: []int{2, 1}},
			{Code: "prod-ami", Seller: sellerID, Type: metering.ProductAMI, Dimensions: []string{"hosts"}, Agreements: metering.AgreementsBoth},
			{Code: "prod-container", Seller: sellerID, Type: metering.ProductContainer, Dimensions: []string{"pods", "vcpu"}, Agreements: metering.AgreementsLegacy, PublicKeyVersions: []int{1}},
		},
		Customers: []metering.Customer{
			{Product: "prod-saas", AccountID: buyerID, CustomerIdentifier: "cust-buyer", LicenseArn: license, Status: metering.StatusSubscribed, Entitlements: []metering.Entitlement{
				{Dimension: "users", Value: metering.EntitlementValue{Integer: ptr(int64(9007199254740993))}, Expires: time.Date(2027, 1, 2, 3, 4, 5, 678_000_000, time.UTC)},
				{Dimension: "storage.gb", Value: metering.EntitlementValue{Double: ptr(0.1)}},
				{Dimension: "api calls", Value: metering.EntitlementValue{Boolean: ptr(false)}, Expires: time.Date(2027, 6, 1, 0, 0, 0, 999_999_999, plus2)},
				{Dimension: "users", Value: metering.EntitlementValue{String: ptr("gold ✓")}},
			}},
			{Product: "prod-ami", AccountID: buyerID, Status: metering.StatusSubscribeFail},
			{Product: "prod-saas", AccountID: otherID, CustomerIdentifier: "cust-other", Status: metering.StatusUnsubscribePending, Entitlements: []metering.Entitlement{
				{Dimension: "users", Value: metering.EntitlementValue{Integer: ptr(int64(-1))}},
			}},
			{Product: "prod-container", AccountID: otherID, Status: metering.StatusUnsubscribed},
		},
		RegistrationTokens: []metering.RegistrationToken{
			{Token: "tok-b", Product: "prod-saas", AccountID: otherID},
			{Token: "tok-a", Product: "prod-saas", AccountID: buyerID, ExpiresAt: time.Date(2026, 3, 1, 10, 30, 0, 123_456_789, plus2)},
		},
	}
}

// loaded is fullState as LoadState must return it.
func loaded() metering.State {
	st := fullState()
	a := st.Accounts
	buyer := a[0]
	k := buyer.AccessKeys
	buyer.AccessKeys = []metering.AccessKey{k[1], k[0], k[2]}
	buyer.AccessKeys[0].AccountID = buyerID // filled from the account
	st.Accounts = []metering.Account{a[1], buyer, a[2]}
	p := st.Products
	st.Products = []metering.Product{p[1], p[2], p[0]}
	c := st.Customers
	st.Customers = []metering.Customer{c[1], c[3], c[0], c[2]}
	r := st.RegistrationTokens
	st.RegistrationTokens = []metering.RegistrationToken{r[1], r[0]}
	return st
}

func (s *suite) stateEmpty(t *testing.T) {
	t.Parallel()
	st := s.store(t)
	got, err := st.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, got, metering.State{})
}

func (s *suite) stateRoundTrip(t *testing.T) {
	t.Parallel()
	st := s.store(t)
	if err := st.ApplyState(t.Context(), fullState()); err != nil {
		t.Fatal(err)
	}
	got, err := st.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, got, loaded())
}

func (s *suite) stateApplyTwice(t *testing.T) {
	t.Parallel()
	st := s.store(t)
	for i := range 2 {
		if err := st.ApplyState(t.Context(), fullState()); err != nil {
			t.Fatalf("apply %d: %v", i+1, err)
		}
		got, err := st.LoadState(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		checkState(t, got, loaded())
	}
}

func (s *suite) statePartial(t *testing.T) {
	t.Parallel()
	st := s.store(t)
	if err := st.ApplyState(t.Context(), fullState()); err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	partial := metering.State{
		// Region empty: keep the stored one.
		Accounts: []metering.Account{
			// Renamed; AKIABUYER1..3 are not named, so they stay.
			{ID: buyerID, Name: "Buyer, renamed", AccessKeys: []metering.AccessKey{
				{ID: "AKIABUYER2", Secret: "rotated", AccountID: buyerID, Platform: metering.PlatformEKS},
				{ID: "AKIABUYER9", Secret: "new", AccountID: buyerID, Platform: metering.PlatformFargate},
			}},
		},
		Products: []metering.Product{
			{Code: "prod-saas", Seller: sellerID, Type: metering.ProductSaaS, Dimensions: []string{"seats"}, Agreements: metering.AgreementsBoth},
			{Code: "prod-new", Seller: otherID, Type: metering.ProductAMI, Dimensions: []string{"b", "a"}, Agreements: metering.AgreementsLegacy, PublicKeyVersions: []int{3}},
		},
		Customers: []metering.Customer{
			{Product: "prod-saas", AccountID: buyerID, CustomerIdentifier: "cust-buyer-2", Status: metering.StatusUnsubscribed, Entitlements: []metering.Entitlement{
				{Dimension: "seats", Value: metering.EntitlementValue{Double: ptr(2.5)}, Expires: exp},
			}},
			// Entitlements replaced by none.
			{Product: "prod-saas", AccountID: otherID, CustomerIdentifier: "cust-other", Status: metering.StatusSubscribed},
			{Product: "prod-new", AccountID: sellerID, Status: metering.StatusSubscribed},
		},
		RegistrationTokens: []metering.RegistrationToken{
			{Token: "tok-b", Product: "prod-saas", AccountID: otherID, ExpiresAt: exp},
			{Token: "tok-c", Product: "prod-new", AccountID: sellerID},
		},
	}
	if err := st.ApplyState(t.Context(), partial); err != nil {
		t.Fatal(err)
	}

	want := loaded()
	buyer := &want.Accounts[1]
	buyer.Name = "Buyer, renamed"
	buyer.AccessKeys[1] = partial.Accounts[0].AccessKeys[0]
	buyer.AccessKeys = append(buyer.AccessKeys, partial.Accounts[0].AccessKeys[1])
	p, c, r := want.Products, want.Customers, want.RegistrationTokens
	want.Products = []metering.Product{p[0], p[1], partial.Products[1], partial.Products[0]}
	want.Customers = []metering.Customer{c[0], c[1], partial.Customers[2], partial.Customers[0], partial.Customers[1]}
	want.RegistrationTokens = []metering.RegistrationToken{r[0], partial.RegistrationTokens[0], partial.RegistrationTokens[1]}
	got, err := st.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	checkState(t, got, want)

	// A later Region replaces the stored one.
	if err := st.ApplyState(t.Context(), metering.State{Region: "ap-southeast-2"}); err != nil {
		t.Fatal(err)
	}
	got, err = st.LoadState(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want.Region = "ap-southeast-2"
	checkState(t, got, want)
}

// checkState compares states after making nil and empty lists equal and
// times millisecond UTC.
func checkState(t *testing.T, got, want metering.State) {
	t.Helper()
	got, want = canonState(got), canonState(want)
	if reflect.DeepEqual(got, want) {
		return
	}
	t.Errorf("LoadState differs:\n%s", diffState(got, want))
}

func canonState(st metering.State) metering.State {
	st.Accounts = nilIfEmpty(st.Accounts)
	for i := range st.Accounts {
		st.Accounts[i].AccessKeys = nilIfEmpty(st.Accounts[i].AccessKeys)
	}
	st.Products = nilIfEmpty(st.Products)
	for i := range st.Products {
		st.Products[i].Dimensions = nilIfEmpty(st.Products[i].Dimensions)
		st.Products[i].PublicKeyVersions = nilIfEmpty(st.Products[i].PublicKeyVersions)
	}
	st.Customers = nilIfEmpty(st.Customers)
	for i := range st.Customers {
		es := nilIfEmpty(st.Customers[i].Entitlements)
		if es != nil {
			es = append([]metering.Entitlement(nil), es...)
			for j := range es {
				es[j].Expires = Millis(es[j].Expires)
			}
		}
		st.Customers[i].Entitlements = es
	}
	st.RegistrationTokens = nilIfEmpty(st.RegistrationTokens)
	for i := range st.RegistrationTokens {
		st.RegistrationTokens[i].ExpiresAt = Millis(st.RegistrationTokens[i].ExpiresAt)
	}
	return st
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return append(S(nil), s...)
}

// diffState lists the top-level entities that differ, which reads better
// than two whole states.
func diffState(got, want metering.State) string {
	var out string
	line := func(what string, g, w any) {
		if !reflect.DeepEqual(g, w) {
			out += fmt.Sprintf("  %s:\n    got  %s\n    want %s\n", what, show(g), show(w))
		}
	}
	line("Region", got.Region, want.Region)
	for i := range max(len(got.Accounts), len(want.Accounts)) {
		line(fmt.Sprintf("Accounts[%d]", i), at(got.Accounts, i), at(want.Accounts, i))
	}
	for i := range max(len(got.Products), len(want.Products)) {
		line(fmt.Sprintf("Products[%d]", i), at(got.Products, i), at(want.Products, i))
	}
	for i := range max(len(got.Customers), len(want.Customers)) {
		line(fmt.Sprintf("Customers[%d]", i), at(got.Customers, i), at(want.Customers, i))
	}
	for i := range max(len(got.RegistrationTokens), len(want.RegistrationTokens)) {
		line(fmt.Sprintf("RegistrationTokens[%d]", i), at(got.RegistrationTokens, i), at(want.RegistrationTokens, i))
	}
	return out
}

func at[E any](s []E, i int) any {
	if i < len(s) {
		return s[i]
	}
	return nil
}

// show prints a value with pointers followed, so entitlement values read.
func show(v any) string {
	switch v := v.(type) {
	case metering.Customer:
		es := ""
		for _, e := range v.Entitlements {
			es += fmt.Sprintf("{%s %s %s} ", e.Dimension, showValue(e.Value), e.Expires.Format(time.RFC3339Nano))
		}
		v.Entitlements = nil
		return fmt.Sprintf("%+v entitlements=[%s]", v, es)
	}
	return fmt.Sprintf("%+v", v)
}

func showValue(v metering.EntitlementValue) string {
	s := ""
	if v.Integer != nil {
		s += fmt.Sprintf("int=%d ", *v.Integer)
	}
	if v.Double != nil {
		s += fmt.Sprintf("double=%v ", *v.Double)
	}
	if v.Boolean != nil {
		s += fmt.Sprintf("bool=%v ", *v.Boolean)
	}
	if v.String != nil {
		s += fmt.Sprintf("string=%q ", *v.String)
	}
	return s
}

// record returns a record with every field set; n makes ID and Key unique.
func record(n int) metering.Record {
	tokyo := time.FixedZone("plus9", 9*3600)
	return metering.Record{
		ID:                 fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		Key:                "bm-product\x1fprod-saas\x1f" + buyerID + "\x1fusers\x1f" + strconv.Itoa(n),
		Fingerprint:        "0123456789abcdef0123456789abcdef",
		Operation:          "BatchMeterUsage",
		Seller:             sellerID,
		ProductCode:        "prod-saas",
		Identity:           metering.IdentityProduct,
		CustomerAccountID:  buyerID,
		CustomerIdentifier: "cust-buyer",
		LicenseArn:         license,
		Resource:           "i-0123456789abcdef0",
		CallerAccountID:    sellerID,
		AccessKeyID:        "AKIASELLER",
		ClientToken:        "token-" + strconv.Itoa(n),
		Dimension:          "users",
		Timestamp:          time.Date(2026, 3, 1, 19, 15, 30, 123_456_789, tokyo),
		Quantity:           metering.MaxQuantity,
		Allocations: []metering.Allocation{
			{Quantity: 2147483000, Tags: []metering.Tag{{Key: "team", Value: "a <b> & \"c\""}, {Key: "env", Value: "prod"}}},
			{Quantity: 600, Tags: []metering.Tag{}},
			{Quantity: 47},
		},
		CreatedAt: time.Date(2026, 3, 1, 10, 16, 0, 999_999_999, time.UTC),
	}
}

func checkRecords(t *testing.T, what string, got, want []metering.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d records, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("%s: record %d:\n got  %+v\n want %+v", what, i, got[i], want[i])
		}
	}
}

func put(t *testing.T, st metering.Store, recs ...metering.Record) []metering.Record {
	t.Helper()
	got, err := st.PutRecords(t.Context(), recs)
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	return got
}

// countRecords is how many records UsageSummary sees for f.
func countRecords(t *testing.T, st metering.Store, f metering.UsageFilter) int64 {
	t.Helper()
	rows, err := st.UsageSummary(t.Context(), f)
	if err != nil {
		t.Fatalf("UsageSummary: %v", err)
	}
	var n int64
	for _, r := range rows {
		n += r.Records
	}
	return n
}

func (s *suite) putNew(t *testing.T) {
	t.Parallel()
	st := s.store(t)
	in := []metering.Record{record(1), record(2), record(3)}
	in[1].Allocations = nil
	in[2].Allocations = []metering.Allocation{}
	in[2].CustomerIdentifier, in[2].LicenseArn, in[2].ClientToken = "", "", ""
	in[2].Quantity = 0
	checkRecords(t, "new keys", put(t, st, in...), in)

	// Asking again returns what was stored: the same fields, times in
	// milliseconds and UTC, nil and empty allocations kept apart.
	again := []metering.Record{record(1), record(2), record(3)}
	for i := range again {
		again[i].ID = "other-id"
		again[i].Quantity = 1
	}
	want := make([]metering.Record, len(in))
	for i, r := range in {
		want[i] = StoredRecord(r)
	}
	checkRecords(t, "stored keys", put(t, st, again...), want)
	if n := countRecords(t, st, metering.UsageFilter{}); n != 3 {
		t.Errorf("stored %d records, want 3", n)
	}
}

func (s *suite) putExisting(t *testing.T) {
	t.Parallel()
	st := s.store(t)
	first := record(1)
	put(t, st, first)

	// A call mixing a stored key with new ones stores only the new ones.
	in := []metering.Record{record(2), record(1), record(3)}
	in[1].ID, in[1].Fingerprint, in[1].Quantity, in[1].Allocations = "second-id", "different", 5, nil
	want := []metering.Record{in[0], StoredRecord(first), in[2]}
	checkRecords(t, "mixed call", put(t, st, in...), want)
	if n := countRecords(t, st, metering.UsageFilter{}); n != 3 {
		t.Errorf("stored %d records, want 3", n)
	}
}

func (s *suite) putSameKeyInOneCall(t *testing.T) {
	t.Parallel()
	st := s.store(t)
	a, b, c := record(1), record(1), record(2)
	b.ID, b.Quantity = "second-id", 7
	want := []metering.Record{a, c, StoredRecord(a)}
	checkRecords(t, "same key twice", put(t, st, a, c, b), want)
	if n := countRecords(t, st, metering.UsageFilter{}); n != 2 {
		t.Errorf("stored %d records, want 2", n)
	}
}

func (s *suite) putConcurrentSameKey(t *testing.T) {
	t.Parallel()
	st := s.store(t)
	const n = 50
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			r := record(1)
			r.ID = fmt.Sprintf("id-%02d", i)
			<-start
			got, err := st.PutRecords(context.Background(), []metering.Record{r})
			if err == nil {
				ids[i] = got[0].ID
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("goroutine %d got ID %q, goroutine 0 got %q", i, id, ids[0])
		}
	}
	if n := countRecords(t, st, metering.UsageFilter{}); n != 1 {
		t.Errorf("stored %d records, want 1", n)
	}
}

// putAllOrNothing watches big calls land: a reader must never see part of
// one.
func (s *suite) putAllOrNothing(t *testing.T) {
	t.Parallel()
	st := s.store(t)
	const calls, size = 5, 500
	done := make(chan error, 1)
	go func() {
		var err error
		for c := range calls {
			recs := make([]metering.Record, size)
			for i := range recs {
				recs[i] = record(c*size + i)
			}
			if _, err = st.PutRecords(context.Background(), recs); err != nil {
				break
			}
		}
		done <- err
	}()
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("PutRecords: %v", err)
			}
			finished = true
		default:
		}
		n := countRecords(t, st, metering.UsageFilter{})
		if n%size != 0 {
			t.Fatalf("a reader saw %d records: not a whole number of %d-record calls", n, size)
		}
	}
	if n := countRecords(t, st, metering.UsageFilter{}); n != calls*size {
		t.Errorf("stored %d records, want %d", n, calls*size)
	}
}

func (s *suite) putCanceled(t *testing.T) {
	t.Parallel()
	st := s.store(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	recs := make([]metering.Record, 100)
	for i := range recs {
		recs[i] = record(i)
	}
	if _, err := st.PutRecords(ctx, recs); !errors.Is(err, context.Canceled) {
		t.Errorf("PutRecords with a cancelled context: got error %v, want context.Canceled", err)
	}
	if n := countRecords(t, st, metering.UsageFilter{}); n != 0 {
		t.Errorf("stored %d records, want 0", n)
	}
}

func (s *suite) putAfterClose(t *testing.T) {
	t.Parallel()
	st := s.open(t)
	put(t, st, record(1))
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := st.PutRecords(context.Background(), []metering.Record{record(2)}); err == nil {
		t.Error("PutRecords after Close succeeded")
	}
}

// usageRecord is a record for the UsageSummary data set.
func usageRecord(key, product, account, identifier, arn, dimension string, ts time.Time, q int64) metering.Record {
	return metering.Record{
		ID: "id-" + key, Key: key, Fingerprint: "fp", Operation: "BatchMeterUsage",
		Seller: sellerID, ProductCode: product, Identity: metering.IdentityProduct,
		CustomerAccountID: account, CustomerIdentifier: identifier, LicenseArn: arn,
		Dimension: dimension, Timestamp: ts, Quantity: q, CreatedAt: ts,
	}
}

func (s *suite) usageSummary(t *testing.T) {
	t.Parallel()
	st := s.store(t)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	kolkata := time.FixedZone("plus0530", 5*3600+1800)
	const saas, ami = "prod-saas", "prod-ami"
	const acctA, acctB, acctC = "111111111111", "222222222222", "333333333333"
	const identA, identB = "cust-a", "cust-b"
	arnB := license
	put(t, st,
		usageRecord("k1", saas, acctA, identA, "", "users", h(0).Add(5*time.Minute), 3),
		usageRecord("k2", saas, acctA, identA, "", "users", h(0).Add(50*time.Minute), 4),
		usageRecord("k3", saas, acctA, identA, "", "storage", h(0).Add(time.Minute), 10),
		// 16:30 in Kolkata is 11:00 UTC: hours are UTC hours.
		usageRecord("k4", saas, acctB, identB, arnB, "users", h(1).In(kolkata), 1),
		usageRecord("k5", saas, acctB, identB, arnB, "users", h(2).Add(-time.Millisecond), 2),
		usageRecord("k6", ami, acctC, "", "", "hosts", h(0).Add(30*time.Minute), 5),
	)
	put(t, st,
		usageRecord("k7", ami, acctC, "", "", "hosts", h(2).Add(10*time.Minute), 6),
		usageRecord("k8", saas, acctA, identA, "", "users", h(2), metering.MaxQuantity),
		usageRecord("k9", ami, acctA, "", "", "hosts", h(1).Add(time.Second), 7),
		usageRecord("k10", saas, acctA, identA, "", "users", h(2).Add(59*time.Minute), metering.MaxQuantity),
	)
	row := func(hour int, product, account, identifier, arn, dimension string, q, n int64) metering.UsageRow {
		return metering.UsageRow{ProductCode: product, CustomerAccountID: account, CustomerIdentifier: identifier, LicenseArn: arn, Dimension: dimension, Hour: h(hour), Quantity: q, Records: n}
	}
	var (
		r0ami     = row(0, ami, acctC, "", "", "hosts", 5, 1)
		r0storage = row(0, saas, acctA, identA, "", "storage", 10, 1)
		r0users   = row(0, saas, acctA, identA, "", "users", 7, 2)
		r1ami     = row(1, ami, acctA, "", "", "hosts", 7, 1)
		r1users   = row(1, saas, acctB, identB, arnB, "users", 3, 2)
		r2ami     = row(2, ami, acctC, "", "", "hosts", 6, 1)
		r2users   = row(2, saas, acctA, identA, "", "users", 2*metering.MaxQuantity, 2)
	)
	tests := []struct {
		name   string
		filter metering.UsageFilter
		want   []metering.UsageRow
	}{
		{"All", metering.UsageFilter{}, []metering.UsageRow{r0ami, r0storage, r0users, r1ami, r1users, r2ami, r2users}},
		{"Product", metering.UsageFilter{ProductCode: saas}, []metering.UsageRow{r0storage, r0users, r1users, r2users}},
		{"UnknownProduct", metering.UsageFilter{ProductCode: "nope"}, nil},
		{"CustomerByAccount", metering.UsageFilter{Customer: acctA}, []metering.UsageRow{r0storage, r0users, r1ami, r2users}},
		{"CustomerByIdentifier", metering.UsageFilter{Customer: identB}, []metering.UsageRow{r1users}},
		{"CustomerByLicense", metering.UsageFilter{Customer: arnB}, []metering.UsageRow{r1users}},
		{"UnknownCustomer", metering.UsageFilter{Customer: "444444444444"}, nil},
		{"Dimension", metering.UsageFilter{Dimension: "hosts"}, []metering.UsageRow{r0ami, r1ami, r2ami}},
		{"From", metering.UsageFilter{From: h(1)}, []metering.UsageRow{r1ami, r1users, r2ami, r2users}},
		{"To", metering.UsageFilter{To: h(1)}, []metering.UsageRow{r0ami, r0storage, r0users}},
		{"FromTo", metering.UsageFilter{From: h(1), To: h(2)}, []metering.UsageRow{r1ami, r1users}},
		{"FromMidHour", metering.UsageFilter{From: h(1).Add(30 * time.Minute)}, []metering.UsageRow{r2ami, r2users}},
		{"ToMidHour", metering.UsageFilter{To: h(1).Add(time.Millisecond)}, []metering.UsageRow{r0ami, r0storage, r0users, r1ami, r1users}},
		{"FromInOtherZone", metering.UsageFilter{From: h(2).In(kolkata)}, []metering.UsageRow{r2ami, r2users}},
		{"EmptyRange", metering.UsageFilter{From: h(1), To: h(1)}, nil},
		{"Combined", metering.UsageFilter{ProductCode: saas, Customer: identA, Dimension: "users", From: h(0), To: h(2)}, []metering.UsageRow{r0users}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.UsageSummary(t.Context(), tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("UsageSummary(%+v):\n got  %s\n want %s", tt.filter, showRows(got), showRows(tt.want))
			}
		})
	}
}

func showRows(rows []metering.UsageRow) string {
	s := fmt.Sprintf("%d rows", len(rows))
	for _, r := range rows {
		s += fmt.Sprintf("\n    %s %s %s/%s/%s %s q=%d n=%d", r.Hour.Format(time.RFC3339), r.ProductCode, r.CustomerAccountID, r.CustomerIdentifier, r.LicenseArn, r.Dimension, r.Quantity, r.Records)
	}
	return s
}

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

// stateManyCustomers applies and loads more customers than the other
// cases, out of the stores' order, so that loading must find each
// entitlement's customer (by walking both in the same order, in the SQL
// stores, which is the database's collation, not Go's), and a state that
// fails, past PostgreSQL's first pipeline, names the customer and leaves
// the stored state as it was.
func (s *suite) stateManyCustomers(t *testing.T) {
	db := s.store(t)
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
