// Package reportstest is the conformance suite for reports.Store: every
// store that keeps usage rollups runs RunStoreTests against a real
// instance. The suite stores records through the store's own write path
// (metering.Store.PutRecords) and checks every sum UsageRollup returns
// against sums it computes from the same records, so a store's rollups are
// right exactly when they agree with its records.
//
// The contract, as the suite checks it:
//
//   - A record counts in the UTC hour its Timestamp falls in; a query takes
//     the hours h with From <= h < To and folds them into buckets as
//     reports.RollupQuery.BucketOf says (UTC hours, or local days over the
//     query's Spans, half-hour offsets and daylight saving time included).
//   - UsageRollup gives one Sum per bucket and group that has records; keys
//     the query does not group by are empty.
//   - Without a tag grouping or filter, Quantity sums the records'
//     quantities and Records counts them. With one, a record counts once
//     under each tag it carries: an allocation with tags {k1=v1, k2=v2} and
//     quantity q adds q to tag "k1=v1" and q to "k2=v2"; a record without
//     allocations adds its quantity, and an allocation without tags (nil or
//     empty) its quantity, to the tag "". Records counts the records that
//     contributed to a tag, once each however many of their allocations
//     carry it.
//   - Filters are exact matches; an empty one matches anything. Customer
//     names an account: an account id, or a customer identifier or license
//     ARN that the customers table (metering.State.Customers, of any
//     product) gives an account. It matches every record of that account,
//     in every product, whatever identifier or license the record carries.
//   - A stored key counts once: records PutRecords did not store (a repeat
//     of a stored key, in a later call, in the same call or in a concurrent
//     one) add nothing. The record that counts is the one PutRecords
//     returns for the key.
//   - A store that implements metering.UsageWiper forgets the rollups with
//     the records.
//
// Records with a non-nil but empty Allocations (which the service never
// makes: a request's allocations list holds at least one) are left out:
// their tag rollups are unspecified.
package reportstest

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, also on machines without a zoneinfo database

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/reports"
)

// Store is what the suite runs against: a metering store that answers
// reports from rollups.
type Store interface {
	metering.Store
	reports.Store
}

// RunStoreTests runs the suite. open must return a new, empty store each
// time and may be called from parallel subtests; the suite closes the
// stores it opens.
func RunStoreTests(t *testing.T, open func(t *testing.T) Store) {
	store := func(t *testing.T) Store {
		t.Helper()
		st := open(t)
		t.Cleanup(func() {
			if err := st.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return st
	}
	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		for _, q := range Queries(t, State(), nil) {
			n := 0
			if err := st.UsageRollup(t.Context(), q, func(reports.Sum) { n++ }); err != nil {
				t.Fatalf("UsageRollup(%s): %v", Describe(q), err)
			}
			if n > 0 {
				t.Fatalf("UsageRollup(%s) of an empty store: %d sums", Describe(q), n)
			}
		}
	})
	t.Run("Sums", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		state := State()
		if err := st.ApplyState(t.Context(), state); err != nil {
			t.Fatal(err)
		}
		stored := Put(t, st, Records())
		checkCoverage(t, state.Customers, stored)
		Check(t, st, state.Customers, stored)
	})
	t.Run("Wipe", func(t *testing.T) {
		t.Parallel()
		st := store(t)
		w, ok := st.(metering.UsageWiper)
		if !ok {
			t.Skip("the store cannot wipe usage")
		}
		state := State()
		if err := st.ApplyState(t.Context(), state); err != nil {
			t.Fatal(err)
		}
		recs := Records()
		Put(t, st, recs)
		if _, err := w.WipeUsage(t.Context()); err != nil {
			t.Fatal(err)
		}
		Check(t, st, state.Customers, nil)
		// Wiped keys are new again, and count again.
		again := recs[:len(recs)/3]
		for i := range again {
			again[i].Quantity++
		}
		Check(t, st, state.Customers, Put(t, st, again))
	})
}

// Zones are the zones the suite folds days in: whole-hour offsets with
// daylight saving time, a half-hour one with and without, a quarter-hour
// one, and UTC.
var Zones = []string{"UTC", "America/New_York", "America/St_Johns", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe"}

// The data: two stretches of hours around daylight saving time changes
// (New York and St John's fall back on 2025-11-02 and spring forward on
// 2026-03-08; Lord Howe moves half an hour on 2026-04-05).
var (
	autumnFrom = time.Date(2025, 11, 1, 0, 0, 0, 0, time.UTC)
	autumnTo   = autumnFrom.Add(72 * time.Hour)
	springFrom = time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)
	springTo   = springFrom.Add(120 * time.Hour)
	howeFrom   = time.Date(2026, 4, 4, 0, 0, 0, 0, time.UTC)
	howeTo     = howeFrom.Add(48 * time.Hour)
)

const (
	seller   = "999999999999"
	acctA    = "111111111111" // prod-saas by identifier (legacy), prod-ami by workload
	acctB    = "222222222222" // prod-saas by identifier and license, prod-c by another license
	acctC    = "333333333333" // prod-saas by license only
	acctD    = "444444444444" // prod-ami only
	acctE    = "555555555555" // prod-c by identifier
	acctF    = "666666666666" // usage but no customer: usage outlives reference data
	licenseB = "arn:aws:license-manager::294406891311:license:l-0000000000000000000000000000000b"
	licB2    = "arn:aws:license-manager::294406891311:license:l-00000000000000000000000000000b02"
	licenseC = "arn:aws:license-manager::294406891311:license:l-0000000000000000000000000000000c"
)

// State is the reference data of the suite's records.
func State() metering.State {
	saas := metering.Product{Code: "prod-saas", Seller: seller, Type: metering.ProductSaaS, Agreements: metering.AgreementsBoth, Dimensions: []string{"users", "storage.gb", "api calls"}}
	ami := metering.Product{Code: "prod-ami", Seller: seller, Type: metering.ProductAMI, Agreements: metering.AgreementsLegacy, Dimensions: []string{"hosts", "vcpu"}}
	ctr := metering.Product{Code: "prod-c", Seller: seller, Type: metering.ProductContainer, Agreements: metering.AgreementsBoth, Dimensions: []string{"pods", "users"}}
	sub := metering.StatusSubscribed
	return metering.State{
		Accounts: []metering.Account{{ID: seller}},
		Products: []metering.Product{saas, ami, ctr},
		Customers: []metering.Customer{
			{Product: saas.Code, AccountID: acctA, CustomerIdentifier: "cust-a", Status: sub},
			{Product: ami.Code, AccountID: acctA, Status: sub},
			{Product: saas.Code, AccountID: acctB, CustomerIdentifier: "cust-b", LicenseArn: licenseB, Status: sub},
			{Product: ctr.Code, AccountID: acctB, LicenseArn: licB2, Status: sub},
			{Product: saas.Code, AccountID: acctC, LicenseArn: licenseC, Status: sub},
			{Product: ami.Code, AccountID: acctD, Status: metering.StatusUnsubscribed},
			{Product: ctr.Code, AccountID: acctE, CustomerIdentifier: "cust-e", Status: sub},
		},
	}
}

// meterer is one way a customer's usage reaches the store.
type meterer struct {
	product, account, identifier, license string
	identity                              metering.IdentityKind
	dims                                  []string
}

var meterers = []meterer{
	{"prod-saas", acctA, "cust-a", "", metering.IdentityProduct, []string{"users", "storage.gb", "api calls"}},
	{"prod-ami", acctA, "", "", metering.IdentityWorkload, []string{"hosts", "vcpu"}},
	{"prod-saas", acctB, "cust-b", licenseB, metering.IdentityLicense, []string{"users", "storage.gb"}},
	{"prod-c", acctB, "", licB2, metering.IdentityLicense, []string{"pods", "users"}},
	{"prod-saas", acctC, "", licenseC, metering.IdentityLicense, []string{"users", "api calls"}},
	{"prod-ami", acctD, "", "", metering.IdentityWorkload, []string{"hosts"}},
	{"prod-c", acctE, "cust-e", "", metering.IdentityProduct, []string{"pods", "users"}},
	{"prod-saas", acctF, "cust-f", "", metering.IdentityProduct, []string{"users"}},
}

// Records returns the suite's records, the same every time: every meterer
// over the three stretches of hours, with every kind of allocation, unique
// keys.
func Records() []metering.Record {
	rng := rand.New(rand.NewPCG(7, 11))
	stJohns := time.FixedZone("minus0230", -(2*3600 + 1800))
	var out []metering.Record
	add := func(from, to time.Time, n int) {
		hours := int(to.Sub(from) / time.Hour)
		for range n {
			m := meterers[rng.IntN(len(meterers))]
			hour := from.Add(time.Duration(rng.IntN(hours)) * time.Hour)
			var ts time.Time
			switch rng.IntN(6) {
			case 0: // the hour's first instant
				ts = hour
			case 1: // its last millisecond
				ts = hour.Add(time.Hour - time.Millisecond)
			case 2: // in another zone, with nanoseconds
				ts = hour.Add(time.Duration(rng.Int64N(int64(time.Hour)))).In(stJohns)
			default:
				ts = hour.Add(time.Duration(rng.IntN(3600000)) * time.Millisecond)
			}
			q := int64(rng.IntN(1000))
			switch rng.IntN(20) {
			case 0:
				q = 0
			case 1:
				q = metering.MaxQuantity
			}
			out = append(out, record(len(out), m, m.dims[rng.IntN(len(m.dims))], ts, q, allocations(rng, q)))
		}
	}
	add(autumnFrom, autumnTo, 300)
	add(springFrom, springTo, 900)
	add(howeFrom, howeTo, 150)
	return out
}

func record(n int, m meterer, dim string, ts time.Time, q int64, allocs []metering.Allocation) metering.Record {
	op, caller, resource := "BatchMeterUsage", seller, ""
	if m.identity == metering.IdentityWorkload {
		op, caller, resource = "MeterUsage", m.account, "i-"+m.account
	}
	return metering.Record{
		ID:                 fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		Key:                metering.HourKey(ts, "reportstest", strconv.Itoa(n)),
		Fingerprint:        "fp-" + strconv.Itoa(n),
		Operation:          op,
		Seller:             seller,
		ProductCode:        m.product,
		Identity:           m.identity,
		CustomerAccountID:  m.account,
		CustomerIdentifier: m.identifier,
		LicenseArn:         m.license,
		Resource:           resource,
		CallerAccountID:    caller,
		AccessKeyID:        "AKIA" + caller,
		Dimension:          dim,
		Timestamp:          ts,
		Quantity:           q,
		Allocations:        allocs,
		CreatedAt:          ts.Add(time.Minute),
	}
}

// Tag values with characters that need escaping in JSON, SQL and CSV.
var tagValues = []string{"prod", "dev", `a <b> & "c"`, `x\y,z'`}

// allocations returns one of the shapes allocations take, quantities
// adding up to q.
func allocations(rng *rand.Rand, q int64) []metering.Allocation {
	v := func() string { return tagValues[rng.IntN(len(tagValues))] }
	a := q / 3
	switch rng.IntN(7) {
	case 0, 1:
		return nil
	case 2: // one allocation without tags, nil or empty
		if rng.IntN(2) == 0 {
			return []metering.Allocation{{Quantity: q}}
		}
		return []metering.Allocation{{Quantity: q, Tags: []metering.Tag{}}}
	case 3: // two tag sets and an untagged rest
		return []metering.Allocation{
			{Quantity: a, Tags: []metering.Tag{{Key: "env", Value: v()}, {Key: "team", Value: v()}}},
			{Quantity: a, Tags: []metering.Tag{{Key: "env", Value: v()}}},
			{Quantity: q - 2*a},
		}
	case 4: // one tag in two allocations: the record counts once under it
		return []metering.Allocation{
			{Quantity: a, Tags: []metering.Tag{{Key: "env", Value: "prod"}}},
			{Quantity: q - a, Tags: []metering.Tag{{Key: "env", Value: "prod"}, {Key: "cost-center", Value: v()}}},
		}
	case 5: // untagged twice
		return []metering.Allocation{{Quantity: a}, {Quantity: q - a, Tags: []metering.Tag{}}}
	default:
		return []metering.Allocation{{Quantity: q, Tags: []metering.Tag{{Key: "team", Value: v()}}}}
	}
}

// Put stores recs through PutRecords as traffic does: calls of various
// sizes, some repeating a key within the call or a key stored before (with
// other figures, which must not count), and, for the last third, calls
// from concurrent goroutines whose keys overlap. It returns the records
// stored, one per key, as PutRecords returned them.
func Put(t *testing.T, st metering.Store, recs []metering.Record) []metering.Record {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, uint64(len(recs))))
	var (
		mu     sync.Mutex
		stored = map[string]metering.Record{}
	)
	// impostor is a repeat of r's key that differs in what is summed.
	impostor := func(r metering.Record) metering.Record {
		r.ID, r.Quantity = "impostor-"+r.ID, r.Quantity/2+7
		r.Allocations = []metering.Allocation{{Quantity: r.Quantity, Tags: []metering.Tag{{Key: "env", Value: "impostor"}}}}
		r.Dimension = "impostor"
		return r
	}
	put := func(call []metering.Record) error {
		got, err := st.PutRecords(context.Background(), call)
		if err != nil {
			return err
		}
		if len(got) != len(call) {
			return fmt.Errorf("PutRecords returned %d records for %d", len(got), len(call))
		}
		mu.Lock()
		defer mu.Unlock()
		for i, r := range got {
			if r.Key != call[i].Key {
				return fmt.Errorf("PutRecords returned key %x at position %d, want %x", r.Key, i, call[i].Key)
			}
			if prev, ok := stored[r.Key]; ok && prev.ID != r.ID {
				return fmt.Errorf("key %x: PutRecords returned record %s, earlier %s", r.Key, r.ID, prev.ID)
			}
			stored[r.Key] = r
		}
		return nil
	}

	serial := recs[:2*len(recs)/3]
	for i := 0; i < len(serial); {
		n := 1 + rng.IntN(40)
		call := slices.Clone(serial[i:min(i+n, len(serial))])
		i += len(call)
		switch rng.IntN(4) {
		case 0: // a key twice in one call: the first counts
			call = append(call, impostor(call[rng.IntN(len(call))]))
		case 1: // a key stored by an earlier call
			if i > len(call) {
				call = append(call, impostor(serial[rng.IntN(i-len(call))]))
			}
		}
		rng.Shuffle(len(call), func(a, b int) { call[a], call[b] = call[b], call[a] })
		if err := put(call); err != nil {
			t.Fatal(err)
		}
	}

	// Concurrent calls: each goroutine sends its share, with some keys of
	// its neighbour's share as impostors, so that batches of one group
	// commit race for keys.
	rest := recs[len(serial):]
	const workers = 8
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		var mine, theirs []metering.Record
		for i, r := range rest {
			switch i % workers {
			case w:
				mine = append(mine, r)
			case (w + 1) % workers:
				if i%3 == 0 {
					theirs = append(theirs, impostor(r))
				}
			}
		}
		wg.Go(func() {
			<-start
			for len(mine) > 0 || len(theirs) > 0 {
				n, m := min(len(mine), 1+w%5), min(len(theirs), 1)
				call := append(slices.Clone(mine[:n]), theirs[:m]...)
				mine, theirs = mine[n:], theirs[m:]
				if errs[w] = put(call); errs[w] != nil {
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	out := make([]metering.Record, 0, len(stored))
	for _, r := range stored {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b metering.Record) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

// Queries lists the queries Check asks: every grouping with every filter
// (by ProductCode, each way of naming a Customer, Dimension and Tag, and
// values that match nothing), and every zone's local days over every
// stretch of hours. recs supply the filter values: nil gives the values of
// Records.
func Queries(t *testing.T, state metering.State, recs []metering.Record) []reports.RollupQuery {
	t.Helper()
	if recs == nil {
		recs = Records()
	}
	var groups []reports.Group
	for m := range 32 {
		groups = append(groups, reports.Group{Product: m&1 != 0, Customer: m&2 != 0, License: m&4 != 0, Dimension: m&8 != 0, Tag: m&16 != 0})
	}
	var (
		products, customers, dims, tags []string
		seen                            = map[string]bool{}
	)
	value := func(list *[]string, kind, v string) {
		if v != "" && !seen[kind+v] {
			seen[kind+v] = true
			*list = append(*list, v)
		}
	}
	for _, r := range recs {
		value(&products, "p", r.ProductCode)
		value(&customers, "c", r.CustomerAccountID)
		value(&dims, "d", r.Dimension)
		for tag := range recordTags(r) {
			value(&tags, "t", tag)
		}
	}
	for _, c := range state.Customers {
		value(&customers, "c", c.AccountID)
		value(&customers, "c", c.CustomerIdentifier)
		value(&customers, "c", c.LicenseArn)
	}
	slices.Sort(tags)
	filters := []reports.RollupQuery{{}}
	for _, p := range append(products, "no-such-product") {
		filters = append(filters, reports.RollupQuery{ProductCode: p})
	}
	for _, c := range append(customers, "000000000000") {
		filters = append(filters, reports.RollupQuery{Customer: c})
	}
	for _, d := range append(dims, "no-such-dimension") {
		filters = append(filters, reports.RollupQuery{Dimension: d})
	}
	for _, tag := range append(tags, "env", "no=such") {
		filters = append(filters, reports.RollupQuery{Tag: tag})
	}
	filters = append(filters,
		reports.RollupQuery{ProductCode: "prod-saas", Customer: "cust-b", Dimension: "users"},
		reports.RollupQuery{ProductCode: "prod-c", Customer: acctB, Tag: "env=prod"},
		reports.RollupQuery{Customer: licenseC, Dimension: "api calls", Tag: "team=dev"},
		reports.RollupQuery{ProductCode: "prod-ami", Customer: "cust-b"},
	)

	var out []reports.RollupQuery
	from, to := springFrom.Unix(), springTo.Unix()
	for _, f := range filters {
		for _, g := range groups {
			q := f
			q.From, q.To, q.GroupBy = from, to, g
			out = append(out, q)
		}
	}
	// Bucketing, with a few groupings.
	ranges := [][2]time.Time{
		{autumnFrom, autumnTo},
		{springFrom, springTo},
		{howeFrom, howeTo},
		{springFrom.Add(7 * time.Hour), springTo.Add(-5 * time.Hour)},
		{autumnFrom, howeTo},
		{springFrom.Add(30 * time.Hour), springFrom.Add(31 * time.Hour)},
		{springFrom.Add(-48 * time.Hour), springFrom},
		{springFrom, springFrom},
	}
	few := []reports.Group{{}, {Customer: true, Dimension: true}, {Product: true, Customer: true, License: true, Dimension: true}, {Tag: true}, {Product: true, Customer: true, License: true, Dimension: true, Tag: true}}
	for _, r := range ranges {
		for _, g := range few {
			base := reports.RollupQuery{From: r[0].Unix(), To: r[1].Unix(), GroupBy: g}
			out = append(out, base)
			for _, name := range Zones {
				loc, err := time.LoadLocation(name)
				if err != nil {
					t.Fatal(err)
				}
				q := base
				q.Bucket, q.Spans = reports.ByLocalDay, reports.Spans(loc, q.From, q.To)
				out = append(out, q)
			}
		}
	}
	out = append(out, reports.RollupQuery{From: springFrom.Unix(), To: springTo.Unix(), GroupBy: reports.Group{Customer: true}, Customer: "cust-a", Tag: "env=prod",
		Bucket: reports.ByLocalDay, Spans: reports.Spans(time.FixedZone("", -4*3600), springFrom.Unix(), springTo.Unix())})
	return out
}

// Check asks st every query of Queries and compares its sums with Truth
// over recs, the records st holds; customers is the customers table.
func Check(t *testing.T, st reports.Store, customers []metering.Customer, recs []metering.Record) {
	t.Helper()
	failures := 0
	for _, q := range Queries(t, metering.State{Customers: customers}, nil) {
		var got []reports.Sum
		if err := st.UsageRollup(t.Context(), q, func(s reports.Sum) { got = append(got, s) }); err != nil {
			t.Fatalf("UsageRollup(%s): %v", Describe(q), err)
		}
		want := Truth(q, customers, recs)
		if diff := Diff(got, want); diff != "" {
			t.Errorf("UsageRollup(%s): got %d sums, want %d:\n%s", Describe(q), len(got), len(want), diff)
			if failures++; failures == 10 {
				t.Fatal("too many failures")
			}
		}
	}
}

// checkCoverage fails t when a filter value Queries asks for, other than
// those meant to match nothing, matches none of recs: a check of it would
// prove nothing.
func checkCoverage(t *testing.T, customers []metering.Customer, recs []metering.Record) {
	t.Helper()
	for _, q := range Queries(t, metering.State{Customers: customers}, nil) {
		if q.From != springFrom.Unix() || q.To != springTo.Unix() || q.GroupBy != (reports.Group{}) || q.Bucket != reports.ByHour ||
			unmatched[q.ProductCode] || unmatched[q.Customer] || unmatched[q.Dimension] || unmatched[q.Tag] ||
			q.ProductCode == "prod-ami" && q.Customer == "cust-b" {
			continue
		}
		if len(Truth(q, customers, recs)) == 0 {
			t.Errorf("no record matches %s: the suite's data misses a case", Describe(q))
		}
	}
}

// unmatched are the filter values Queries asks for that name nothing.
var unmatched = map[string]bool{"no-such-product": true, "000000000000": true, "no-such-dimension": true, "env": true, "no=such": true}

// Truth computes what UsageRollup must return for q over recs.
func Truth(q reports.RollupQuery, customers []metering.Customer, recs []metering.Record) []reports.Sum {
	accounts := map[string]bool{q.Customer: true}
	for _, c := range customers {
		if q.Customer != "" && (c.AccountID == q.Customer || c.CustomerIdentifier == q.Customer || c.LicenseArn == q.Customer) {
			accounts[c.AccountID] = true
		}
	}
	byTag := q.GroupBy.Tag || q.Tag != ""
	return reports.Fold(q, func(yield func(int64, reports.Sum)) {
		for _, r := range recs {
			if q.ProductCode != "" && r.ProductCode != q.ProductCode ||
				q.Customer != "" && !accounts[r.CustomerAccountID] ||
				q.Dimension != "" && r.Dimension != q.Dimension {
				continue
			}
			hour := r.Timestamp.UTC().Truncate(time.Hour).Unix()
			s := reports.Sum{ProductCode: r.ProductCode, CustomerAccountID: r.CustomerAccountID, LicenseArn: r.LicenseArn, Dimension: r.Dimension, Records: 1}
			if !byTag {
				s.Quantity = r.Quantity
				yield(hour, s)
				continue
			}
			for tag, qty := range recordTags(r) {
				if q.Tag == "" || tag == q.Tag {
					s.Tag, s.Quantity = tag, qty
					yield(hour, s)
				}
			}
		}
	})
}

// recordTags returns the quantity r adds to each of its tags.
func recordTags(r metering.Record) map[string]int64 {
	out := map[string]int64{}
	if r.Allocations == nil {
		out[""] = r.Quantity
	}
	for _, a := range r.Allocations {
		if len(a.Tags) == 0 {
			out[""] += a.Quantity
		}
		for _, t := range a.Tags {
			out[t.Key+"="+t.Value] += a.Quantity
		}
	}
	return out
}

// Diff returns "" when got and want hold the same sums in any order, and
// else the lines of each that the other lacks.
func Diff(got, want []reports.Sum) string {
	g, w := lines(got), lines(want)
	if slices.Equal(g, w) {
		return ""
	}
	var b strings.Builder
	i, j, n := 0, 0, 0
	for (i < len(g) || j < len(w)) && n < 20 {
		switch {
		case j == len(w) || i < len(g) && g[i] < w[j]:
			fmt.Fprintf(&b, "  got only:  %s\n", g[i])
			i++
			n++
		case i == len(g) || w[j] < g[i]:
			fmt.Fprintf(&b, "  want only: %s\n", w[j])
			j++
			n++
		default:
			i++
			j++
		}
	}
	return b.String()
}

func lines(sums []reports.Sum) []string {
	out := make([]string, len(sums))
	for i, s := range sums {
		out[i] = fmt.Sprintf("bucket=%d product=%q customer=%q license=%q dimension=%q tag=%q quantity=%d records=%d",
			s.Bucket, s.ProductCode, s.CustomerAccountID, s.LicenseArn, s.Dimension, s.Tag, s.Quantity, s.Records)
	}
	slices.Sort(out)
	return out
}

// Describe prints q for a failure message.
func Describe(q reports.RollupQuery) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s..%s group=[%s]", time.Unix(q.From, 0).UTC().Format(time.RFC3339), time.Unix(q.To, 0).UTC().Format(time.RFC3339), q.GroupBy)
	if q.Bucket == reports.ByLocalDay {
		fmt.Fprintf(&b, " local days %v", q.Spans)
	}
	for _, f := range [][2]string{{"product", q.ProductCode}, {"customer", q.Customer}, {"dimension", q.Dimension}, {"tag", q.Tag}} {
		if f[1] != "" {
			fmt.Fprintf(&b, " %s=%q", f[0], f[1])
		}
	}
	return b.String()
}
