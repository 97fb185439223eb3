package e2e

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/aws/smithy-go"

	"github.com/meterd/meterd/internal/metering"
)

var ctx = context.Background()

// wantCode asserts the SDK raised an API error with code; the typed
// exception assertions below prove SDKs map our errors to their types.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got code %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	if ae.ErrorMessage() == "" {
		t.Fatalf("%s has an empty message", code)
	}
}

func wantType[E error](t *testing.T, err error) E {
	t.Helper()
	var e E
	if !errors.As(err, &e) {
		t.Fatalf("got %T %v, want %T", err, err, e)
	}
	return e
}

func meterInput(product, dim string, ts time.Time, q int32) *mm.MeterUsageInput {
	return &mm.MeterUsageInput{ProductCode: aws.String(product), UsageDimension: aws.String(dim), Timestamp: aws.Time(ts), UsageQuantity: aws.Int32(q)}
}

func (s *server) records(t *testing.T, f metering.UsageFilter) int64 {
	t.Helper()
	rows, err := s.Store.UsageSummary(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range rows {
		n += r.Records
	}
	return n
}

func TestMeterUsageSDK(t *testing.T) {
	s := start(t, serverOpts{})
	buyer := s.client(buyerKey)
	now := s.clock.Now()

	first, err := buyer.MeterUsage(ctx, meterInput("ami-1", "hours", now, 5))
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(first.MeteringRecordId)
	if id == "" {
		t.Fatal("no MeteringRecordId")
	}

	t.Run("SameHourSameQuantityIsIdempotent", func(t *testing.T) {
		// The SDK sends a fresh ClientToken each call; the hour key wins.
		again, err := buyer.MeterUsage(ctx, meterInput("ami-1", "hours", now.Truncate(time.Hour), 5))
		if err != nil || aws.ToString(again.MeteringRecordId) != id {
			t.Fatalf("got %v %v, want %s", again, err, id)
		}
	})
	t.Run("DuplicateRequestException", func(t *testing.T) {
		_, err := buyer.MeterUsage(ctx, meterInput("ami-1", "hours", now, 6))
		wantType[*types.DuplicateRequestException](t, err)
	})
	t.Run("OtherWorkloadIsNew", func(t *testing.T) {
		other, err := s.client(buyerKey2).MeterUsage(ctx, meterInput("ami-1", "hours", now, 6))
		if err != nil || aws.ToString(other.MeteringRecordId) == id {
			t.Fatalf("got %v %v", other, err)
		}
	})
	t.Run("DefaultQuantityZero", func(t *testing.T) {
		in := meterInput("ami-1", "vcpus", now, 0)
		in.UsageQuantity = nil
		if _, err := buyer.MeterUsage(ctx, in); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Allocations", func(t *testing.T) {
		in := meterInput("ami-1", "hours", now.Add(-time.Hour), 3)
		in.UsageAllocations = []types.UsageAllocation{
			{AllocatedUsageQuantity: aws.Int32(1), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}},
			{AllocatedUsageQuantity: aws.Int32(2)},
		}
		out, err := buyer.MeterUsage(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		// The same allocations in another order are the same record.
		in.UsageAllocations[0], in.UsageAllocations[1] = in.UsageAllocations[1], in.UsageAllocations[0]
		again, err := buyer.MeterUsage(ctx, in)
		if err != nil || aws.ToString(again.MeteringRecordId) != aws.ToString(out.MeteringRecordId) {
			t.Fatalf("reordered allocations: %v %v", again, err)
		}
	})
	t.Run("DryRun", func(t *testing.T) {
		before := s.records(t, metering.UsageFilter{})
		in := meterInput("ami-1", "hours", now.Add(-2*time.Hour), 1)
		in.DryRun = aws.Bool(true)
		_, err := buyer.MeterUsage(ctx, in)
		wantCode(t, err, "DryRunOperation")
		if after := s.records(t, metering.UsageFilter{}); after != before {
			t.Fatalf("DryRun stored a record: %d -> %d", before, after)
		}
	})
}

func TestMeterUsageErrorsSDK(t *testing.T) {
	s := start(t, serverOpts{})
	buyer := s.client(buyerKey)
	now := s.clock.Now()
	tags := func(n int) []types.Tag {
		var out []types.Tag
		for i := 0; i < n; i++ {
			out = append(out, types.Tag{Key: aws.String("k" + string(rune('a'+i))), Value: aws.String("v")})
		}
		return out
	}
	withAllocs := func(q int32, allocs ...types.UsageAllocation) *mm.MeterUsageInput {
		in := meterInput("ami-1", "hours", now, q)
		in.UsageAllocations = allocs
		return in
	}
	euWest := func(o *mm.Options) { o.Region = "eu-west-1" }

	tests := []struct {
		name   string
		client *mm.Client
		in     *mm.MeterUsageInput
		check  func(*testing.T, error)
	}{
		{"TimestampTooOld", buyer, meterInput("ami-1", "hours", now.Add(-6*time.Hour-time.Minute), 1),
			func(t *testing.T, err error) { wantType[*types.TimestampOutOfBoundsException](t, err) }},
		{"TimestampInFuture", buyer, meterInput("ami-1", "hours", now.Add(time.Hour), 1),
			func(t *testing.T, err error) { wantType[*types.TimestampOutOfBoundsException](t, err) }},
		{"UnknownProduct", buyer, meterInput("no-such-product", "hours", now, 1),
			func(t *testing.T, err error) { wantType[*types.InvalidProductCodeException](t, err) }},
		{"UnknownDimension", buyer, meterInput("ami-1", "gigawatts", now, 1),
			func(t *testing.T, err error) { wantType[*types.InvalidUsageDimensionException](t, err) }},
		{"NotEntitled", s.client(buyer2Key), meterInput("ami-1", "hours", now, 1),
			func(t *testing.T, err error) { wantType[*types.CustomerNotEntitledException](t, err) }},
		{"WrongRegion", s.client(buyerKey, euWest), meterInput("ami-1", "hours", now, 1),
			func(t *testing.T, err error) { wantType[*types.InvalidEndpointRegionException](t, err) }},
		{"SixTags", buyer, withAllocs(1, types.UsageAllocation{AllocatedUsageQuantity: aws.Int32(1), Tags: tags(6)}),
			func(t *testing.T, err error) { wantType[*types.InvalidTagException](t, err) }},
		{"TagPattern", buyer, withAllocs(1, types.UsageAllocation{AllocatedUsageQuantity: aws.Int32(1), Tags: []types.Tag{{Key: aws.String("a>b"), Value: aws.String("v")}}}),
			func(t *testing.T, err error) { wantType[*types.InvalidTagException](t, err) }},
		{"AllocationSum", buyer, withAllocs(5, types.UsageAllocation{AllocatedUsageQuantity: aws.Int32(1)}),
			func(t *testing.T, err error) { wantType[*types.InvalidUsageAllocationsException](t, err) }},
		{"SameTagSetTwice", buyer, withAllocs(2,
			types.UsageAllocation{AllocatedUsageQuantity: aws.Int32(1), Tags: tags(1)},
			types.UsageAllocation{AllocatedUsageQuantity: aws.Int32(1), Tags: tags(1)}),
			func(t *testing.T, err error) { wantType[*types.InvalidUsageAllocationsException](t, err) }},
		{"NegativeQuantity", buyer, meterInput("ami-1", "hours", now, -1),
			func(t *testing.T, err error) { wantCode(t, err, "ValidationException") }},
		{"DimensionTooLong", buyer, meterInput("ami-1", strings.Repeat("d", 256), now, 1),
			func(t *testing.T, err error) { wantCode(t, err, "ValidationException") }},
		{"UnknownAccessKey", s.client(cred("AKIANOBODY0000000000", "x")), meterInput("ami-1", "hours", now, 1),
			func(t *testing.T, err error) { wantCode(t, err, "UnrecognizedClientException") }},
		{"WrongSecret", s.client(cred("AKIABUYER00000000001", "not-the-secret")), meterInput("ami-1", "hours", now, 1),
			func(t *testing.T, err error) { wantCode(t, err, "InvalidSignatureException") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.MeterUsage(ctx, tt.in)
			tt.check(t, err)
		})
	}
	if n := s.records(t, metering.UsageFilter{}); n != 0 {
		t.Fatalf("refused requests stored %d records", n)
	}
	t.Run("ClientTokenTooLong", func(t *testing.T) {
		in := meterInput("ami-1", "hours", now, 1)
		in.ClientToken = aws.String(strings.Repeat("t", 65))
		_, err := buyer.MeterUsage(ctx, in)
		wantCode(t, err, "ValidationException")
	})
}

func TestMeterUsageAgentCoreSDK(t *testing.T) {
	s := start(t, serverOpts{})
	agent := s.client(agentKey)
	now := s.clock.Now()
	in := meterInput("ami-1", "hours", now, 2)
	in.ClientToken = aws.String("token-1")
	first, err := agent.MeterUsage(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := agent.MeterUsage(ctx, in)
	if err != nil || aws.ToString(again.MeteringRecordId) != aws.ToString(first.MeteringRecordId) {
		t.Fatalf("same token: %v %v", again, err)
	}
	in.UsageQuantity = aws.Int32(3)
	_, err = agent.MeterUsage(ctx, in)
	wantType[*types.IdempotencyConflictException](t, err)
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != 409 {
		t.Fatalf("IdempotencyConflictException status: %v", err)
	}
	// Other tokens, same timestamp: many records an hour, aggregated.
	for i := 0; i < 3; i++ {
		in.ClientToken = nil // the SDK fills a fresh token (into in, hence each time)
		if _, err := agent.MeterUsage(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.records(t, metering.UsageFilter{}); n != 4 {
		t.Fatalf("stored %d records, want 4", n)
	}
}

func TestMeterUsageConcurrentIdenticalSDK(t *testing.T) {
	s := start(t, serverOpts{})
	buyer := s.client(buyerKey)
	in := meterInput("ami-1", "hours", s.clock.Now(), 7)
	ids := make([]string, 20)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := buyer.MeterUsage(ctx, in)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = aws.ToString(out.MeteringRecordId)
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent identical requests got ids %v", ids)
		}
	}
	if n := s.records(t, metering.UsageFilter{}); n != 1 {
		t.Fatalf("stored %d records, want 1", n)
	}
}

// TestStoreFailureSDK: when the store cannot commit, the client gets a
// typed InternalServiceErrorException (500, retried by SDKs) and the
// process keeps serving.
func TestStoreFailureSDK(t *testing.T) {
	s := start(t, serverOpts{})
	s.Store.Close()
	_, err := s.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "hours", s.clock.Now(), 1))
	wantType[*types.InternalServiceErrorException](t, err)
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
		t.Fatalf("status: %v", err)
	}
	// Refusals that need no store still work.
	_, err = s.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "nope", s.clock.Now(), 1))
	wantType[*types.InvalidUsageDimensionException](t, err)
}
