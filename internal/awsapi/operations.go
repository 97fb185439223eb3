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

	// positions are the request positions of Results, then of
	// UnprocessedRecords, for hooks (BatchOutcomes); not encoded.
	positions []int
}

// Outcomes implements BatchOutcomes.
func (r batchMeterUsageResponse) Outcomes() (results []RecordOutcome, unprocessed []int) {
	pos := func(i int) int {
		if i < len(r.positions) {
			return r.positions[i]
		}
		return -1
	}
	results = make([]RecordOutcome, len(r.Results))
	for i, res := range r.Results {
		results[i] = RecordOutcome{Index: pos(i), Status: res.Status, MeteringRecordID: res.MeteringRecordID}
	}
	unprocessed = make([]int, len(r.UnprocessedRecords))
	for i := range r.UnprocessedRecords {
		unprocessed[i] = pos(len(r.Results) + i)
	}
	return results, unprocessed
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
	var keptPos, unprocPos []int // request positions, when records were split
	if h.unproc != nil && len(req.UsageRecords) > 0 {
		req.UsageRecords, unprocessed, keptPos, unprocPos = splitUnprocessed(req.UsageRecords, h.unproc(ctx, caller.AccessKey.AccountID, len(req.UsageRecords)))
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
		positions:          make([]int, len(out.Results), len(out.Results)+len(unprocPos)),
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
		resp.positions[i] = res.Index
		if keptPos != nil {
			resp.positions[i] = keptPos[res.Index]
		}
	}
	resp.positions = append(resp.positions, unprocPos...)
	return resp, nil
}

// splitUnprocessed moves the records at the ascending indexes picked out
// of recs, keeping both lists in order, and returns the positions in recs
// of both.
func splitUnprocessed(recs []usageRecordJSON, picked []int) (kept, out []usageRecordJSON, keptPos, outPos []int) {
	kept, out = make([]usageRecordJSON, 0, len(recs)), []usageRecordJSON{}
	keptPos, outPos = make([]int, 0, len(recs)), []int{}
	for i, r := range recs {
		if len(picked) > 0 && picked[0] == i {
			out, picked = append(out, r), picked[1:]
			outPos = append(outPos, i)
			continue
		}
		kept = append(kept, r)
		keptPos = append(keptPos, i)
	}
	return kept, out, keptPos, outPos
}
