package loadgen

import (
	"net/http"
	"strconv"

	"github.com/meterd/meterd/internal/awsproto"
)

// BaselineRecordID is the MeteringRecordId every DecodeOnlyHandler answer
// carries.
const BaselineRecordID = "00000000-0000-4000-8000-000000000000"

// DecodeOnlyHandler returns the yardstick meterd's performance is measured
// against: an awsJson1_1 endpoint that does only the work no implementation
// of the API can skip. It reads the body, decodes it with awsproto.Decode
// into the same wire shapes meterd's handler uses and answers a valid
// success: for MeterUsage a fixed MeteringRecordId, for BatchMeterUsage a
// Results list echoing every record with Status Success. It checks no
// signature, applies no rule and stores nothing, so a meterd figure divided
// by this handler's figure on the same machine, under the same load, is the
// share of the protocol-only speed that meterd keeps.
func DecodeOnlyHandler() http.Handler { return http.HandlerFunc(serveDecodeOnly) }

// Wire shapes, as in internal/awsapi: pointers keep absent members apart.

type baselineTag struct {
	Key   *string `json:"Key,omitempty"`
	Value *string `json:"Value,omitempty"`
}

type baselineAllocation struct {
	AllocatedUsageQuantity *awsproto.Integer `json:"AllocatedUsageQuantity,omitempty"`
	Tags                   []baselineTag     `json:"Tags,omitempty"`
}

type baselineMeterUsage struct {
	ProductCode      *string              `json:"ProductCode"`
	Timestamp        *awsproto.Timestamp  `json:"Timestamp"`
	UsageDimension   *string              `json:"UsageDimension"`
	UsageQuantity    *awsproto.Integer    `json:"UsageQuantity"`
	DryRun           *bool                `json:"DryRun"`
	UsageAllocations []baselineAllocation `json:"UsageAllocations"`
	ClientToken      *string              `json:"ClientToken"`
}

type baselineRecord struct {
	Timestamp            *awsproto.Timestamp  `json:"Timestamp,omitempty"`
	CustomerIdentifier   *string              `json:"CustomerIdentifier,omitempty"`
	Dimension            *string              `json:"Dimension,omitempty"`
	Quantity             *awsproto.Integer    `json:"Quantity,omitempty"`
	UsageAllocations     []baselineAllocation `json:"UsageAllocations,omitempty"`
	CustomerAWSAccountID *string              `json:"CustomerAWSAccountId,omitempty"`
	LicenseArn           *string              `json:"LicenseArn,omitempty"`
}

type baselineBatch struct {
	UsageRecords []baselineRecord `json:"UsageRecords"`
	ProductCode  *string          `json:"ProductCode"`
}

type baselineResult struct {
	UsageRecord      baselineRecord `json:"UsageRecord"`
	MeteringRecordID string         `json:"MeteringRecordId,omitempty"`
	Status           string         `json:"Status"`
}

type baselineBatchResponse struct {
	Results            []baselineResult `json:"Results"`
	UnprocessedRecords []baselineRecord `json:"UnprocessedRecords"`
}

var meterUsageAnswer = []byte(`{"MeteringRecordId":"` + BaselineRecordID + `"}`)

func serveDecodeOnly(w http.ResponseWriter, r *http.Request) {
	body, err := awsproto.ReadBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	switch r.Header.Get("X-Amz-Target") {
	case OpMeter.Target():
		var req baselineMeterUsage
		if err := awsproto.Decode(body, &req); err != nil {
			writeError(w, err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", awsproto.ContentType)
		h.Set("Content-Length", strconv.Itoa(len(meterUsageAnswer)))
		w.WriteHeader(http.StatusOK)
		w.Write(meterUsageAnswer)
	case OpBatch.Target():
		var req baselineBatch
		if err := awsproto.Decode(body, &req); err != nil {
			writeError(w, err)
			return
		}
		resp := baselineBatchResponse{
			Results:            make([]baselineResult, len(req.UsageRecords)),
			UnprocessedRecords: []baselineRecord{},
		}
		for i, rec := range req.UsageRecords {
			resp.Results[i] = baselineResult{UsageRecord: rec, MeteringRecordID: BaselineRecordID, Status: "Success"}
		}
		awsproto.WriteJSON(w, resp)
	default:
		writeError(w, awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException",
			"The decode-only baseline serves MeterUsage and BatchMeterUsage only."))
	}
}

func writeError(w http.ResponseWriter, err error) {
	e, ok := err.(*awsproto.Error)
	if !ok {
		e = awsproto.Errorf(http.StatusInternalServerError, "InternalServiceErrorException", "%v", err)
	}
	awsproto.WriteError(w, e)
}
