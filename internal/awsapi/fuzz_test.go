package awsapi

import (
	"testing"

	"github.com/meterd/meterd/internal/awsproto"
	"github.com/meterd/meterd/internal/metering"
)

// FuzzDecodeAndValidate runs arbitrary bodies through every operation's
// decoding and the domain's validation: any input gets nil or a typed
// error, never a panic.
func FuzzDecodeAndValidate(f *testing.F) {
	for _, seed := range []string{
		`{"ProductCode":"p","Timestamp":1795399200,"UsageDimension":"d","UsageQuantity":1}`,
		`{"ProductCode":"p","Timestamp":"2026-11-23T02:00:00Z","UsageDimension":"d","UsageAllocations":[{"AllocatedUsageQuantity":1,"Tags":[{"Key":"k","Value":"v"}]}]}`,
		`{"UsageRecords":[{"Timestamp":1.5e9,"CustomerIdentifier":"c","Dimension":"d","Quantity":3}],"ProductCode":"p"}`,
		`{"UsageRecords":[{"Timestamp":"1795399200","LicenseArn":"arn:aws:license-manager::1:license:l-1","CustomerAWSAccountId":"1","Dimension":"d"}]}`,
		`{"ProductCode":"p","Filter":{"DIMENSION":["a","b"]},"MaxResults":25,"NextToken":"x"}`,
		`{"RegistrationToken":"a+b/c="}`,
		`{"ProductCode":"p","PublicKeyVersion":1,"Nonce":"n"}`,
		`[`, `{"a":`, `{"UsageQuantity":1e400}`, `{"Timestamp":"9999-99-99"}`, "\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var mu meterUsageRequest
		if awsproto.Decode(body, &mu) == nil {
			in := metering.MeterUsageInput{ProductCode: mu.ProductCode, Timestamp: mu.Timestamp.TimePtr(), UsageDimension: mu.UsageDimension,
				UsageQuantity: mu.UsageQuantity.Int64(), DryRun: mu.DryRun, UsageAllocations: allocations(mu.UsageAllocations), ClientToken: mu.ClientToken}
			_ = in.Validate()
		}
		var bm batchMeterUsageRequest
		if awsproto.Decode(body, &bm) == nil {
			in := metering.BatchMeterUsageInput{ProductCode: bm.ProductCode}
			for _, r := range bm.UsageRecords {
				in.UsageRecords = append(in.UsageRecords, metering.UsageRecordInput{Timestamp: r.Timestamp.TimePtr(), Dimension: r.Dimension,
					Quantity: r.Quantity.Int64(), CustomerIdentifier: r.CustomerIdentifier, CustomerAWSAccountID: r.CustomerAWSAccountID,
					LicenseArn: r.LicenseArn, UsageAllocations: allocations(r.UsageAllocations)})
			}
			_ = in.Validate()
		}
		var ge getEntitlementsRequest
		if awsproto.Decode(body, &ge) == nil {
			in := ge.input()
			_ = in.Validate()
		}
		var rc resolveCustomerRequest
		_ = awsproto.Decode(body, &rc)
		var ru registerUsageRequest
		_ = awsproto.Decode(body, &ru)
	})
}
