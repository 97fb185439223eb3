package e2e

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/meterd/meterd/internal/metering"
)

func usage(ts time.Time, dim string, q int32, who func(*types.UsageRecord)) types.UsageRecord {
	r := types.UsageRecord{Timestamp: aws.Time(ts), Dimension: aws.String(dim), Quantity: aws.Int32(q)}
	who(&r)
	return r
}

func ident(id string) func(*types.UsageRecord) {
	return func(r *types.UsageRecord) { r.CustomerIdentifier = aws.String(id) }
}

func account(id string) func(*types.UsageRecord) {
	return func(r *types.UsageRecord) { r.CustomerAWSAccountId = aws.String(id) }
}

func licensed(arn, acct string) func(*types.UsageRecord) {
	return func(r *types.UsageRecord) { r.LicenseArn = aws.String(arn); r.CustomerAWSAccountId = aws.String(acct) }
}

func batch(product string, recs ...types.UsageRecord) *mm.BatchMeterUsageInput {
	in := &mm.BatchMeterUsageInput{UsageRecords: append([]types.UsageRecord{}, recs...)}
	if product != "" {
		in.ProductCode = aws.String(product)
	}
	return in
}

func resultStatuses(out *mm.BatchMeterUsageOutput) []types.UsageRecordResultStatus {
	var s []types.UsageRecordResultStatus
	for _, r := range out.Results {
		s = append(s, r.Status)
	}
	return s
}

func TestBatchMeterUsageSDK(t *testing.T) {
	s := start(t, serverOpts{})
	seller := s.client(sellerKey)
	now := s.clock.Now()
	recs := []types.UsageRecord{
		usage(now, "users", 3, ident("cust-1")),
		usage(now, "storage_gb", 10, account(buyerAccount)),
		usage(now, "users", 3, ident("cust-2")),       // unsubscribed
		usage(now, "users", 3, ident("nobody")),       // unknown customer
		usage(now, "users", 4, account(buyerAccount)), // cust-1 by account: other quantity
	}
	out, err := seller.BatchMeterUsage(ctx, batch("saas-both", recs...))
	if err != nil {
		t.Fatal(err)
	}
	want := []types.UsageRecordResultStatus{"Success", "Success", "CustomerNotSubscribed", "CustomerNotSubscribed", "DuplicateRecord"}
	got := resultStatuses(out)
	if len(got) != len(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
	if len(out.UnprocessedRecords) != 0 {
		t.Fatalf("unprocessed: %v", out.UnprocessedRecords)
	}
	// The echo carries the record as sent.
	if e := out.Results[0].UsageRecord; aws.ToString(e.CustomerIdentifier) != "cust-1" || aws.ToInt32(e.Quantity) != 3 || !aws.ToTime(e.Timestamp).Equal(now.Truncate(time.Millisecond)) {
		t.Fatalf("echo: %+v", e)
	}

	t.Run("IdenticalRetry", func(t *testing.T) {
		again, err := seller.BatchMeterUsage(ctx, batch("saas-both", recs...))
		if err != nil {
			t.Fatal(err)
		}
		for i := range []int{0, 1} {
			if aws.ToString(again.Results[i].MeteringRecordId) != aws.ToString(out.Results[i].MeteringRecordId) {
				t.Fatalf("retry got new ids: %v", again.Results)
			}
		}
	})
	t.Run("SubsetRetry", func(t *testing.T) {
		again, err := seller.BatchMeterUsage(ctx, batch("saas-both", recs[1]))
		if err != nil || aws.ToString(again.Results[0].MeteringRecordId) != aws.ToString(out.Results[1].MeteringRecordId) {
			t.Fatalf("subset retry: %v %v", again, err)
		}
	})
	t.Run("LicenseIdentityIsASeparateKey", func(t *testing.T) {
		lic, err := seller.BatchMeterUsage(ctx, batch("", usage(now, "users", 3, licensed(license1, buyerAccount))))
		if err != nil || lic.Results[0].Status != types.UsageRecordResultStatusSuccess ||
			aws.ToString(lic.Results[0].MeteringRecordId) == aws.ToString(out.Results[0].MeteringRecordId) {
			t.Fatalf("license identity: %+v %v", lic, err)
		}
	})
	t.Run("ConcurrentAgreements", func(t *testing.T) {
		r, err := seller.BatchMeterUsage(ctx, batch("", usage(now, "requests", 9, licensed(license2, buyer2Account))))
		if err != nil || r.Results[0].Status != types.UsageRecordResultStatusSuccess {
			t.Fatalf("%+v %v", r, err)
		}
	})
	t.Run("EmptyBatch", func(t *testing.T) {
		r, err := seller.BatchMeterUsage(ctx, batch("saas-both"))
		if err != nil || len(r.Results) != 0 {
			t.Fatalf("%+v %v", r, err)
		}
	})
	if n := s.records(t, metering.UsageFilter{}); n != 4 {
		t.Fatalf("stored %d records, want 4", n)
	}
}

func TestBatchMeterUsageErrorsSDK(t *testing.T) {
	s := start(t, serverOpts{})
	seller := s.client(sellerKey)
	now := s.clock.Now()
	good := usage(now, "users", 1, ident("cust-1"))
	many := make([]types.UsageRecord, 26)
	for i := range many {
		many[i] = good
	}
	tests := []struct {
		name   string
		client *mm.Client
		in     *mm.BatchMeterUsageInput
		check  func(*testing.T, error)
	}{
		{"UnknownDimension", seller, batch("saas-both", good, usage(now, "nope", 1, ident("cust-1"))),
			func(t *testing.T, err error) { wantType[*types.InvalidUsageDimensionException](t, err) }},
		{"TimestampOutOfBounds", seller, batch("saas-both", good, usage(now.Add(-25*time.Hour), "users", 1, ident("cust-1"))),
			func(t *testing.T, err error) { wantType[*types.TimestampOutOfBoundsException](t, err) }},
		{"TimestampInFuture", seller, batch("saas-both", good, usage(now.Add(2*time.Hour), "users", 1, ident("cust-1"))),
			func(t *testing.T, err error) { wantType[*types.TimestampOutOfBoundsException](t, err) }},
		{"TwentySixRecords", seller, batch("saas-both", many...),
			func(t *testing.T, err error) { wantCode(t, err, "ValidationException") }},
		{"OtherSellersProduct", s.client(otherSellerKey), batch("saas-both", good),
			func(t *testing.T, err error) { wantType[*types.InvalidProductCodeException](t, err) }},
		{"BuyerMetersSellersProduct", s.client(buyerKey), batch("saas-both", good),
			func(t *testing.T, err error) { wantType[*types.InvalidProductCodeException](t, err) }},
		{"UnknownProduct", seller, batch("nope", good),
			func(t *testing.T, err error) { wantType[*types.InvalidProductCodeException](t, err) }},
		{"ProductCodeOnConcurrentProduct", seller, batch("saas-new", usage(now, "requests", 1, account(buyer2Account))),
			func(t *testing.T, err error) { wantType[*types.InvalidProductCodeException](t, err) }},
		{"LicenseOfAnotherAccount", seller, batch("", usage(now, "requests", 1, licensed(license2, buyerAccount))),
			func(t *testing.T, err error) { wantType[*types.InvalidLicenseException](t, err) }},
		{"LicenseOnLegacyProduct", seller, batch("saas-old", usage(now, "users", 1, licensed(license1, buyerAccount))),
			func(t *testing.T, err error) { wantType[*types.InvalidLicenseException](t, err) }},
		{"OtherSellersLicense", s.client(otherSellerKey), batch("", usage(now, "requests", 1, licensed(license2, buyer2Account))),
			func(t *testing.T, err error) { wantType[*types.InvalidLicenseException](t, err) }},
		{"BothIdentities", seller, batch("saas-both", usage(now, "users", 1, func(r *types.UsageRecord) {
			r.CustomerIdentifier = aws.String("cust-1")
			r.CustomerAWSAccountId = aws.String(buyerAccount)
		})), func(t *testing.T, err error) { wantType[*types.InvalidCustomerIdentifierException](t, err) }},
		{"AllocationSum", seller, batch("saas-both", usage(now, "users", 2, func(r *types.UsageRecord) {
			r.CustomerIdentifier = aws.String("cust-1")
			r.UsageAllocations = []types.UsageAllocation{{AllocatedUsageQuantity: aws.Int32(1)}}
		})), func(t *testing.T, err error) { wantType[*types.InvalidUsageAllocationsException](t, err) }},
		{"BadTag", seller, batch("saas-both", usage(now, "users", 1, func(r *types.UsageRecord) {
			r.CustomerIdentifier = aws.String("cust-1")
			r.UsageAllocations = []types.UsageAllocation{{AllocatedUsageQuantity: aws.Int32(1), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("é")}}}}
		})), func(t *testing.T, err error) { wantType[*types.InvalidTagException](t, err) }},
		{"BadAccountID", seller, batch("saas-both", usage(now, "users", 1, account("12ab"))),
			func(t *testing.T, err error) { wantCode(t, err, "ValidationException") }},
		{"BadLicenseArn", seller, batch("", usage(now, "users", 1, licensed("not-an-arn", buyerAccount))),
			func(t *testing.T, err error) { wantCode(t, err, "ValidationException") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.BatchMeterUsage(ctx, tt.in)
			tt.check(t, err)
		})
	}
	if n := s.records(t, metering.UsageFilter{}); n != 0 {
		t.Fatalf("refused batches stored %d records", n)
	}
}

func TestBatchMonthEndCutoffSDK(t *testing.T) {
	s := start(t, serverOpts{})
	seller := s.client(sellerKey)
	monthStart := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	lastMonth := usage(monthStart.Add(-time.Hour), "users", 1, ident("cust-1"))

	s.clock.Freeze(monthStart.Add(5 * time.Hour))
	if _, err := seller.BatchMeterUsage(ctx, batch("saas-both", lastMonth)); err != nil {
		t.Fatalf("before 06:00 UTC on the 1st: %v", err)
	}
	s.clock.Freeze(monthStart.Add(6*time.Hour + time.Minute))
	lastMonth.Dimension = aws.String("storage_gb")
	_, err := seller.BatchMeterUsage(ctx, batch("saas-both", lastMonth))
	wantType[*types.TimestampOutOfBoundsException](t, err)
}

func TestConfigurableWindowsSDK(t *testing.T) {
	s := start(t, serverOpts{rules: metering.Config{BatchWindow: 6 * time.Hour, MeterUsageWindow: time.Hour}})
	now := s.clock.Now()
	_, err := s.client(sellerKey).BatchMeterUsage(ctx, batch("saas-both", usage(now.Add(-7*time.Hour), "users", 1, ident("cust-1"))))
	wantType[*types.TimestampOutOfBoundsException](t, err)
	_, err = s.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "hours", now.Add(-2*time.Hour), 1))
	wantType[*types.TimestampOutOfBoundsException](t, err)
}

func TestRestartKeepsRecordsSDK(t *testing.T) {
	db := t.TempDir() + "/meterd.db"
	s := start(t, serverOpts{db: db})
	now := s.clock.Now()
	first, err := s.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "hours", now, 4))
	if err != nil {
		t.Fatal(err)
	}
	b1, err := s.client(sellerKey).BatchMeterUsage(ctx, batch("saas-both", usage(now, "users", 2, ident("cust-1"))))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := start(t, serverOpts{db: db})
	again, err := s2.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "hours", now, 4))
	if err != nil || aws.ToString(again.MeteringRecordId) != aws.ToString(first.MeteringRecordId) {
		t.Fatalf("retry after restart: %v %v, want %s", again, err, aws.ToString(first.MeteringRecordId))
	}
	b2, err := s2.client(sellerKey).BatchMeterUsage(ctx, batch("saas-both", usage(now, "users", 2, ident("cust-1"))))
	if err != nil || aws.ToString(b2.Results[0].MeteringRecordId) != aws.ToString(b1.Results[0].MeteringRecordId) {
		t.Fatalf("batch retry after restart: %v %v", b2, err)
	}
	if n := s2.records(t, metering.UsageFilter{}); n != 2 {
		t.Fatalf("%d records after restart, want 2", n)
	}
}
