package metering_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metering/meteringtest"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

const (
	seller    = "111122223333"
	buyer     = "444455556666"
	buyer2    = "777788889999"
	otherSell = "999988887777"
	license1  = "arn:aws:license-manager::444455556666:license:l-0001"
	license2  = "arn:aws:license-manager::777788889999:license:l-0002"
)

func testState() metering.State {
	return metering.State{
		Region: "us-east-1",
		Accounts: []metering.Account{
			{ID: seller, AccessKeys: []metering.AccessKey{{ID: "SELLER", Secret: "s"}}},
			{ID: otherSell, AccessKeys: []metering.AccessKey{{ID: "OTHER", Secret: "s"}}},
			{ID: buyer, AccessKeys: []metering.AccessKey{
				{ID: "BUYER", Secret: "s", Resource: "i-1"},
				{ID: "BUYER-I2", Secret: "s", Resource: "i-2"},
				{ID: "AGENT", Secret: "s", Resource: "agent-1", Platform: metering.PlatformAgentCore},
			}},
			{ID: buyer2, AccessKeys: []metering.AccessKey{{ID: "BUYER2", Secret: "s"}}},
		},
		Products: []metering.Product{
			{Code: "saas", Seller: seller, Type: metering.ProductSaaS, Dimensions: []string{"users", "gb"}},
			{Code: "saas-new", Seller: seller, Type: metering.ProductSaaS, Dimensions: []string{"requests"}, Agreements: metering.AgreementsConcurrent},
			{Code: "saas-old", Seller: seller, Type: metering.ProductSaaS, Dimensions: []string{"users"}, Agreements: metering.AgreementsLegacy},
			{Code: "ami", Seller: seller, Type: metering.ProductAMI, Dimensions: []string{"hours"}},
		},
		Customers: []metering.Customer{
			{Product: "saas", AccountID: buyer, CustomerIdentifier: "cust-1", LicenseArn: license1},
			{Product: "saas", AccountID: buyer2, CustomerIdentifier: "cust-2", Status: metering.StatusUnsubscribed},
			{Product: "saas-new", AccountID: buyer2, LicenseArn: license2},
			{Product: "saas-old", AccountID: buyer, CustomerIdentifier: "old-1"},
			{Product: "ami", AccountID: buyer},
		},
	}
}

var t0 = time.Date(2026, 11, 23, 12, 30, 0, 0, time.UTC)

func newService(t *testing.T) (*metering.Service, *meteringtest.MemStore, *fakeClock) {
	t.Helper()
	store := meteringtest.NewMemStore()
	clock := &fakeClock{now: t0}
	svc, err := metering.NewService(context.Background(), metering.Options{Store: store, Clock: clock}, metering.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.ApplyState(context.Background(), testState()); err != nil {
		t.Fatal(err)
	}
	return svc, store, clock
}

func caller(t *testing.T, svc *metering.Service, key string) metering.Caller {
	t.Helper()
	c, ok := svc.Caller(key, "us-east-1")
	if !ok {
		t.Fatalf("no key %s", key)
	}
	return c
}

func ptr[T any](v T) *T { return &v }

func wantKind(t *testing.T, err error, kind metering.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", kind)
	}
	if got := metering.KindOf(err); got != kind {
		t.Fatalf("got %v (%v), want %v", got, err, kind)
	}
}

func meter(product, dim string, ts time.Time, q int64) metering.MeterUsageInput {
	return metering.MeterUsageInput{ProductCode: ptr(product), UsageDimension: ptr(dim), Timestamp: ptr(ts), UsageQuantity: ptr(q)}
}

func TestMeterUsageHourIdempotency(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	c := caller(t, svc, "BUYER")
	id1, err := svc.MeterUsage(ctx, c, meter("ami", "hours", t0.Add(-10*time.Minute), 5))
	if err != nil {
		t.Fatal(err)
	}
	// Same hour, other minute, other ClientToken: same record.
	in := meter("ami", "hours", t0.Add(-25*time.Minute), 5)
	in.ClientToken = ptr("another-token")
	id2, err := svc.MeterUsage(ctx, c, in)
	if err != nil || id2 != id1 {
		t.Fatalf("repeat: got %q, %v; want %q", id2, err, id1)
	}
	_, err = svc.MeterUsage(ctx, c, meter("ami", "hours", t0, 6))
	wantKind(t, err, metering.KindDuplicateRequest)
	// Another hour and another workload are new records.
	id3, err := svc.MeterUsage(ctx, c, meter("ami", "hours", t0.Add(-time.Hour), 6))
	if err != nil || id3 == id1 {
		t.Fatalf("other hour: %q %v", id3, err)
	}
	id4, err := svc.MeterUsage(ctx, caller(t, svc, "BUYER-I2"), meter("ami", "hours", t0, 6))
	if err != nil || id4 == id1 {
		t.Fatalf("other workload: %q %v", id4, err)
	}
}

func TestMeterUsageAgentCore(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	c := caller(t, svc, "AGENT")
	in := meter("ami", "hours", t0, 5)
	in.ClientToken = ptr("tok-1")
	id1, err := svc.MeterUsage(ctx, c, in)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := svc.MeterUsage(ctx, c, in)
	if err != nil || id2 != id1 {
		t.Fatalf("same token: %q %v", id2, err)
	}
	in.UsageQuantity = ptr(int64(6))
	_, err = svc.MeterUsage(ctx, c, in)
	wantKind(t, err, metering.KindIdempotencyConflict)
	// Other tokens in the same hour, even the same timestamp, add up.
	in.ClientToken = ptr("tok-2")
	id3, err := svc.MeterUsage(ctx, c, in)
	if err != nil || id3 == id1 {
		t.Fatalf("other token: %q %v", id3, err)
	}
}

func TestMeterUsageRefusals(t *testing.T) {
	svc, store, _ := newService(t)
	ctx := context.Background()
	c := caller(t, svc, "BUYER")
	dry := meter("ami", "hours", t0, 1)
	dry.DryRun = ptr(true)
	tooManyTags := meter("ami", "hours", t0, 1)
	var tags []metering.TagInput
	for i := 0; i < 6; i++ {
		tags = append(tags, metering.TagInput{Key: ptr("k" + string(rune('a'+i))), Value: ptr("v")})
	}
	tooManyTags.UsageAllocations = []metering.AllocationInput{{AllocatedUsageQuantity: ptr(int64(1)), Tags: tags}}
	badSum := meter("ami", "hours", t0, 3)
	badSum.UsageAllocations = []metering.AllocationInput{{AllocatedUsageQuantity: ptr(int64(1))}}
	sameSets := meter("ami", "hours", t0, 2)
	sameSets.UsageAllocations = []metering.AllocationInput{
		{AllocatedUsageQuantity: ptr(int64(1)), Tags: []metering.TagInput{{Key: ptr("a"), Value: ptr("1")}}},
		{AllocatedUsageQuantity: ptr(int64(1)), Tags: []metering.TagInput{{Key: ptr("a"), Value: ptr("1")}}},
	}
	badTag := meter("ami", "hours", t0, 1)
	badTag.UsageAllocations = []metering.AllocationInput{{AllocatedUsageQuantity: ptr(int64(1)), Tags: []metering.TagInput{{Key: ptr("a?"), Value: ptr("1")}}}}
	foreign := c
	foreign.Region = "eu-west-1"

	tests := []struct {
		name   string
		caller metering.Caller
		in     metering.MeterUsageInput
		want   metering.Kind
	}{
		{"DryRun", c, dry, metering.KindDryRun},
		{"TooOld", c, meter("ami", "hours", t0.Add(-6*time.Hour-time.Second), 1), metering.KindTimestampOutOfBounds},
		{"Future", c, meter("ami", "hours", t0.Add(6*time.Minute), 1), metering.KindTimestampOutOfBounds},
		{"UnknownProduct", c, meter("nope", "hours", t0, 1), metering.KindInvalidProductCode},
		{"UnknownDimension", c, meter("ami", "users", t0, 1), metering.KindInvalidUsageDimension},
		{"NotEntitled", caller(t, svc, "BUYER2"), meter("ami", "hours", t0, 1), metering.KindCustomerNotEntitled},
		{"Region", foreign, meter("ami", "hours", t0, 1), metering.KindInvalidEndpointRegion},
		{"TooManyTags", c, tooManyTags, metering.KindInvalidTag},
		{"BadTagPattern", c, badTag, metering.KindInvalidTag},
		{"AllocationSum", c, badSum, metering.KindInvalidUsageAllocations},
		{"SameTagSets", c, sameSets, metering.KindInvalidUsageAllocations},
		{"NegativeQuantity", c, meter("ami", "hours", t0, -1), metering.KindValidation},
		{"MissingTimestamp", c, metering.MeterUsageInput{ProductCode: ptr("ami"), UsageDimension: ptr("hours")}, metering.KindValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.MeterUsage(ctx, tt.caller, tt.in)
			wantKind(t, err, tt.want)
		})
	}
	if n := count(t, store); n != 0 {
		t.Fatalf("refusals stored %d records", n)
	}
}

func TestMeterUsageWindowEdges(t *testing.T) {
	svc, _, _ := newService(t)
	c := caller(t, svc, "BUYER")
	if _, err := svc.MeterUsage(context.Background(), c, meter("ami", "hours", t0.Add(-6*time.Hour), 1)); err != nil {
		t.Fatalf("exactly 6h old: %v", err)
	}
	if _, err := svc.MeterUsage(context.Background(), c, meter("ami", "hours", t0.Add(5*time.Minute), 1)); err != nil {
		t.Fatalf("5 min ahead: %v", err)
	}
}

func TestValidationMessage(t *testing.T) {
	svc, _, _ := newService(t)
	_, err := svc.MeterUsage(context.Background(), caller(t, svc, "BUYER"), metering.MeterUsageInput{
		ProductCode: ptr("bad code!"), Timestamp: ptr(t0), UsageDimension: ptr(strings.Repeat("d", 256)),
	})
	wantKind(t, err, metering.KindValidation)
	want := "2 validation errors detected: Value 'bad code!' at 'productCode' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[-a-zA-Z0-9/=:_.@]*$; Value '" + strings.Repeat("d", 128) + "...' at 'usageDimension' failed to satisfy constraint: Member must have length less than or equal to 255"
	if err.Error() != want {
		t.Fatalf("message:\n got %s\nwant %s", err, want)
	}
}

func rec(ts time.Time, dim string, q int64, id func(*metering.UsageRecordInput)) metering.UsageRecordInput {
	r := metering.UsageRecordInput{Timestamp: ptr(ts), Dimension: ptr(dim), Quantity: ptr(q)}
	if id != nil {
		id(&r)
	}
	return r
}

func byID(id string) func(*metering.UsageRecordInput) {
	return func(r *metering.UsageRecordInput) { r.CustomerIdentifier = ptr(id) }
}

func byAccount(acct string) func(*metering.UsageRecordInput) {
	return func(r *metering.UsageRecordInput) { r.CustomerAWSAccountID = ptr(acct) }
}

func byLicense(arn, acct string) func(*metering.UsageRecordInput) {
	return func(r *metering.UsageRecordInput) { r.LicenseArn = ptr(arn); r.CustomerAWSAccountID = ptr(acct) }
}

func statuses(out metering.BatchMeterUsageOutput) []metering.RecordStatus {
	var s []metering.RecordStatus
	for _, r := range out.Results {
		s = append(s, r.Status)
	}
	return s
}

func TestBatchMeterUsage(t *testing.T) {
	svc, store, _ := newService(t)
	ctx := context.Background()
	c := caller(t, svc, "SELLER")
	in := metering.BatchMeterUsageInput{ProductCode: ptr("saas"), UsageRecords: []metering.UsageRecordInput{
		rec(t0, "users", 3, byID("cust-1")),
		rec(t0, "gb", 4, byAccount(buyer)),
		rec(t0, "users", 3, byID("cust-2")),                     // unsubscribed
		rec(t0, "users", 3, byID("unknown")),                    // not a customer
		rec(t0, "users", 9, byAccount(buyer)),                   // same key as the first, other quantity
		rec(t0.Add(-time.Minute), "users", 3, byAccount(buyer)), // same key, same quantity
	}}
	out, err := svc.BatchMeterUsage(ctx, c, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []metering.RecordStatus{"Success", "Success", "CustomerNotSubscribed", "CustomerNotSubscribed", "DuplicateRecord", "Success"}
	if got := statuses(out); !equal(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	if out.Results[5].MeteringRecordID != out.Results[0].MeteringRecordID {
		t.Fatal("identical record in the same batch got a new id")
	}
	// A retried subset returns the original ids.
	retry, err := svc.BatchMeterUsage(ctx, c, metering.BatchMeterUsageInput{ProductCode: ptr("saas"), UsageRecords: in.UsageRecords[1:2]})
	if err != nil || retry.Results[0].MeteringRecordID != out.Results[1].MeteringRecordID {
		t.Fatalf("subset retry: %+v %v", retry, err)
	}
	// LicenseArn identity is a separate key from ProductCode identity.
	lic, err := svc.BatchMeterUsage(ctx, c, metering.BatchMeterUsageInput{UsageRecords: []metering.UsageRecordInput{rec(t0, "users", 3, byLicense(license1, buyer))}})
	if err != nil || lic.Results[0].Status != "Success" || lic.Results[0].MeteringRecordID == out.Results[0].MeteringRecordID {
		t.Fatalf("license identity: %+v %v", lic, err)
	}
	if n := count(t, store); n != 3 {
		t.Fatalf("stored %d records, want 3", n)
	}
}

func TestBatchMeterUsageAllOrNothing(t *testing.T) {
	svc, store, clock := newService(t)
	ctx := context.Background()
	c := caller(t, svc, "SELLER")
	good := rec(t0, "users", 1, byID("cust-1"))
	many := make([]metering.UsageRecordInput, 26)
	for i := range many {
		many[i] = good
	}
	tests := []struct {
		name   string
		caller metering.Caller
		in     metering.BatchMeterUsageInput
		want   metering.Kind
	}{
		{"Dimension", c, metering.BatchMeterUsageInput{ProductCode: ptr("saas"), UsageRecords: []metering.UsageRecordInput{good, rec(t0, "nope", 1, byID("cust-1"))}}, metering.KindInvalidUsageDimension},
		{"TooOld", c, metering.BatchMeterUsageInput{ProductCode: ptr("saas"), UsageRecords: []metering.UsageRecordInput{good, rec(t0.Add(-25*time.Hour), "users", 1, byID("cust-1"))}}, metering.KindTimestampOutOfBounds},
		{"TooMany", c, metering.BatchMeterUsageInput{ProductCode: ptr("saas"), UsageRecords: many}, metering.KindValidation},
		{"OtherSeller", caller(t, svc, "OTHER"), metering.BatchMeterUsageInput{ProductCode: ptr("saas"), UsageRecords: []metering.UsageRecordInput{good}}, metering.KindInvalidProductCode},
		{"BuyerCallsBatch", caller(t, svc, "BUYER"), metering.BatchMeterUsageInput{ProductCode: ptr("saas"), UsageRecords: []metering.UsageRecordInput{good}}, metering.KindInvalidProductCode},
		{"LicenseOfOtherAccount", c, metering.BatchMeterUsageInput{UsageRecords: []metering.UsageRecordInput{rec(t0, "requests", 1, byLicense(license2, buyer))}}, metering.KindInvalidLicense},
		{"UnknownLicense", c, metering.BatchMeterUsageInput{UsageRecords: []metering.UsageRecordInput{rec(t0, "requests", 1, byLicense("arn:aws:license-manager::1:license:l-x", buyer2))}}, metering.KindInvalidLicense},
		{"OtherSellersLicense", caller(t, svc, "OTHER"), metering.BatchMeterUsageInput{UsageRecords: []metering.UsageRecordInput{rec(t0, "requests", 1, byLicense(license2, buyer2))}}, metering.KindInvalidLicense},
		{"LegacyOnConcurrentProduct", c, metering.BatchMeterUsageInput{ProductCode: ptr("saas-new"), UsageRecords: []metering.UsageRecordInput{rec(t0, "requests", 1, byAccount(buyer2))}}, metering.KindInvalidProductCode},
		{"NoProductNoLicense", c, metering.BatchMeterUsageInput{UsageRecords: []metering.UsageRecordInput{good}}, metering.KindInvalidProductCode},
		{"BothIdentities", c, metering.BatchMeterUsageInput{ProductCode: ptr("saas"), UsageRecords: []metering.UsageRecordInput{rec(t0, "users", 1, func(r *metering.UsageRecordInput) {
			r.CustomerIdentifier = ptr("cust-1")
			r.CustomerAWSAccountID = ptr(buyer)
		})}}, metering.KindInvalidCustomerIdentifier},
		{"NoIdentity", c, metering.BatchMeterUsageInput{ProductCode: ptr("saas"), UsageRecords: []metering.UsageRecordInput{rec(t0, "users", 1, nil)}}, metering.KindInvalidCustomerIdentifier},
		{"MissingRecords", c, metering.BatchMeterUsageInput{ProductCode: ptr("saas")}, metering.KindValidation},
		{"BadAccountID", c, metering.BatchMeterUsageInput{ProductCode: ptr("saas"), UsageRecords: []metering.UsageRecordInput{rec(t0, "users", 1, byAccount("12ab"))}}, metering.KindValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.BatchMeterUsage(ctx, tt.caller, tt.in)
			wantKind(t, err, tt.want)
		})
	}
	if n := count(t, store); n != 0 {
		t.Fatalf("refused batches stored %d records", n)
	}

	// Concurrent Agreements product: license identity, no ProductCode.
	out, err := svc.BatchMeterUsage(ctx, c, metering.BatchMeterUsageInput{UsageRecords: []metering.UsageRecordInput{rec(t0, "requests", 1, byLicense(license2, buyer2))}})
	if err != nil || out.Results[0].Status != "Success" {
		t.Fatalf("concurrent: %+v %v", out, err)
	}
	// Legacy-only products refuse LicenseArn records.
	_, err = svc.BatchMeterUsage(ctx, c, metering.BatchMeterUsageInput{ProductCode: ptr("saas-old"), UsageRecords: []metering.UsageRecordInput{rec(t0, "users", 1, byLicense(license1, buyer))}})
	wantKind(t, err, metering.KindInvalidLicense)
	_ = clock
}

func TestBatchWindows(t *testing.T) {
	monthStart := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	lastMonth := monthStart.Add(-time.Hour)
	tests := []struct {
		name string
		now  time.Time
		ts   time.Time
		cfg  metering.Config
		ok   bool
	}{
		{"24hOld", t0, t0.Add(-24 * time.Hour), metering.Config{}, true},
		{"24hAndASecond", t0, t0.Add(-24*time.Hour - time.Second), metering.Config{}, false},
		{"BeforeCutoff", monthStart.Add(6*time.Hour - time.Second), lastMonth, metering.Config{}, true},
		{"AtCutoff", monthStart.Add(6 * time.Hour), lastMonth, metering.Config{}, false},
		{"NoCutoff", monthStart.Add(7 * time.Hour), lastMonth, metering.Config{MonthEndCutoff: -1}, true},
		{"Window6h", t0, t0.Add(-7 * time.Hour), metering.Config{BatchWindow: 6 * time.Hour}, false},
		{"Future", t0, t0.Add(time.Hour), metering.Config{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: tt.now}
			svc, err := metering.NewService(context.Background(), metering.Options{Store: meteringtest.NewMemStore(), Clock: clock}, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.ApplyState(context.Background(), testState()); err != nil {
				t.Fatal(err)
			}
			_, err = svc.BatchMeterUsage(context.Background(), caller(t, svc, "SELLER"), metering.BatchMeterUsageInput{
				ProductCode: ptr("saas"), UsageRecords: []metering.UsageRecordInput{rec(tt.ts, "users", 1, byID("cust-1"))}})
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok {
				wantKind(t, err, metering.KindTimestampOutOfBounds)
			}
		})
	}
}

func TestApplyStateRejectsDanglingReferences(t *testing.T) {
	svc, _, _ := newService(t)
	err := svc.ApplyState(context.Background(), metering.State{Customers: []metering.Customer{{Product: "ghost", AccountID: buyer}}})
	var se *metering.StateError
	if !errors.As(err, &se) || se.Problems[0].Path != "customers[0].product" {
		t.Fatalf("got %v", err)
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func count(t *testing.T, store metering.Store) int64 {
	t.Helper()
	rows, err := store.UsageSummary(context.Background(), metering.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range rows {
		n += r.Records
	}
	return n
}
