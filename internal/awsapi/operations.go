package awsapi

import (
	"context"

	"github.com/meterd/meterd/internal/awsproto"
	"github.com/meterd/meterd/internal/metering"
)

// Wire shapes carry exactly the model's member names. Pointers and nil
// slices keep "absent" (and null) apart from zero values.

type tagJSON struct {
	Key   *string `json:"Key,omitempty"`
	Value *string `json:"Value,omitempty"`
}

type allocationJSON struct {
	AllocatedUsageQuantity *awsproto.Integer `json:"AllocatedUsageQuantity,omitempty"`
	Tags                   []tagJSON         `json:"Tags,omitempty"`
}

type meterUsageRequest struct {
	ProductCode      *string             `json:"ProductCode"`
	Timestamp        *awsproto.Timestamp `json:"Timestamp"`
	UsageDimension   *string             `json:"UsageDimension"`
	UsageQuantity    *awsproto.Integer   `json:"UsageQuantity"`
	DryRun           *bool               `json:"DryRun"`
	UsageAllocations []allocationJSON    `json:"UsageAllocations"`
	ClientToken      *string             `json:"ClientToken"`
}

type meterUsageResponse struct {
	MeteringRecordID string `json:"MeteringRecordId"`
}

type usageRecordJSON struct {
	Timestamp            *awsproto.Timestamp `json:"Timestamp,omitempty"`
	CustomerIdentifier   *string             `json:"CustomerIdentifier,omitempty"`
	Dimension            *string             `json:"Dimension,omitempty"`
	Quantity             *awsproto.Integer   `json:"Quantity,omitempty"`
	UsageAllocations     []allocationJSON    `json:"UsageAllocations,omitempty"`
	CustomerAWSAccountID *string             `json:"CustomerAWSAccountId,omitempty"`
	LicenseArn           *string             `json:"LicenseArn,omitempty"`
}

type batchMeterUsageRequest struct {
	UsageRecords []usageRecordJSON `json:"UsageRecords"`
	ProductCode  *string           `json:"ProductCode"`
}

type usageRecordResultJSON struct {
	UsageRecord      usageRecordJSON `json:"UsageRecord"`
	MeteringRecordID string          `json:"MeteringRecordId,omitempty"`
	Status           string          `json:"Status"`
}

type batchMeterUsageResponse struct {
	Results            []usageRecordResultJSON `json:"Results"`
	UnprocessedRecords []usageRecordJSON       `json:"UnprocessedRecords"`
}

func allocations(in []allocationJSON) []metering.AllocationInput {
	if in == nil {
		return nil
	}
	out := make([]metering.AllocationInput, len(in))
	for i, a := range in {
		out[i].AllocatedUsageQuantity = a.AllocatedUsageQuantity.Int64()
		if a.Tags != nil {
			out[i].Tags = make([]metering.TagInput, len(a.Tags))
			for j, t := range a.Tags {
				out[i].Tags[j] = metering.TagInput{Key: t.Key, Value: t.Value}
			}
		}
	}
	return out
}

func (h *Handler) meterUsage(ctx context.Context, caller metering.Caller, body []byte) (any, error) {
	var req meterUsageRequest
	if err := awsproto.Decode(body, &req); err != nil {
		return nil, err
	}
	id, err := h.svc.MeterUsage(ctx, caller, metering.MeterUsageInput{
		ProductCode:      req.ProductCode,
		Timestamp:        req.Timestamp.TimePtr(),
		UsageDimension:   req.UsageDimension,
		UsageQuantity:    req.UsageQuantity.Int64(),
		DryRun:           req.DryRun,
		UsageAllocations: allocations(req.UsageAllocations),
		ClientToken:      req.ClientToken,
	})
	if err != nil {
		return nil, err
	}
	h.observer.ObserveRecords("MeterUsage", "Success", 1)
	return meterUsageResponse{MeteringRecordID: id}, nil
}

func (h *Handler) batchMeterUsage(ctx context.Context, caller metering.Caller, body []byte) (any, error) {
	var req batchMeterUsageRequest
	if err := awsproto.Decode(body, &req); err != nil {
		return nil, err
	}
	// Records test controls leave unprocessed are not metered at all.
	unprocessed := []usageRecordJSON{}
	if h.unproc != nil && len(req.UsageRecords) > 0 {
		req.UsageRecords, unprocessed = splitUnprocessed(req.UsageRecords, h.unproc(ctx, caller.AccessKey.AccountID, len(req.UsageRecords)))
	}
	in := metering.BatchMeterUsageInput{ProductCode: req.ProductCode}
	if req.UsageRecords != nil {
		in.UsageRecords = make([]metering.UsageRecordInput, len(req.UsageRecords))
		for i, r := range req.UsageRecords {
			in.UsageRecords[i] = metering.UsageRecordInput{
				Timestamp:            r.Timestamp.TimePtr(),
				CustomerIdentifier:   r.CustomerIdentifier,
				Dimension:            r.Dimension,
				Quantity:             r.Quantity.Int64(),
				UsageAllocations:     allocations(r.UsageAllocations),
				CustomerAWSAccountID: r.CustomerAWSAccountID,
				LicenseArn:           r.LicenseArn,
			}
		}
	}
	out, err := h.svc.BatchMeterUsage(ctx, caller, in)
	if err != nil {
		return nil, err
	}
	resp := batchMeterUsageResponse{
		Results:            make([]usageRecordResultJSON, len(out.Results)),
		UnprocessedRecords: unprocessed,
	}
	counts := map[metering.RecordStatus]int{}
	for _, res := range out.Results {
		counts[res.Status]++
	}
	for status, n := range counts {
		h.observer.ObserveRecords("BatchMeterUsage", string(status), n)
	}
	for i, res := range out.Results {
		resp.Results[i] = usageRecordResultJSON{
			UsageRecord:      req.UsageRecords[res.Index],
			MeteringRecordID: res.MeteringRecordID,
			Status:           string(res.Status),
		}
	}
	return resp, nil
}

// splitUnprocessed moves the records at the ascending indexes picked out
// of recs, keeping both lists in order.
func splitUnprocessed(recs []usageRecordJSON, picked []int) (kept, out []usageRecordJSON) {
	kept, out = make([]usageRecordJSON, 0, len(recs)), []usageRecordJSON{}
	for i, r := range recs {
		if len(picked) > 0 && picked[0] == i {
			out, picked = append(out, r), picked[1:]
			continue
		}
		kept = append(kept, r)
	}
	return kept, out
}
