package awsapi

import (
	"context"
	"time"
)

// Call describes one data-plane call as it is served. Hooks read it: the
// audit log records it, test controls may refuse it.
type Call struct {
	RequestID string
	Time      time.Time
	Operation string // e.g. MeterUsage; "unknown" for targets not served
	Target    string // as the client sent it
	Protocol  string // awsJson1_1 or rpcv2Cbor

	SourceIP    string
	UserAgent   string
	AccessKeyID string // set once the signature verified
	AccountID   string
	Region      string

	// Body is the request body as received (JSON or CBOR). Hooks must
	// not keep secrets from it: the data plane carries none but the
	// registration tokens of ResolveCustomer.
	Body []byte
	// BodyDecoded is set when an awsJson1_1 operation succeeded: every
	// one decodes Body with encoding/json before anything else
	// (TestOperationsDecodeFirst), so Body is then valid JSON and hooks
	// need not check its syntax again.
	BodyDecoded bool

	// Set when the call is answered.
	Status       int
	ErrorCode    string
	ErrorMessage string
	Response     any // the encoded result on success
	Duration     time.Duration
}

// RecordOutcome is one usage record's outcome in a BatchMeterUsage answer.
type RecordOutcome struct {
	Index            int    // 0-based position in the request's UsageRecords; -1 if unknown
	Status           string // the per-record Status
	MeteringRecordID string // empty unless stored
}

// BatchOutcomes is implemented by the Response of a BatchMeterUsage call,
// so that hooks read each record's outcome without encoding the answer
// again: its Results in order, and the request positions of its
// UnprocessedRecords.
type BatchOutcomes interface {
	Outcomes() (results []RecordOutcome, unprocessed []int)
}

// Hooks run around every authenticated call.
type Hooks interface {
	// Before runs after authentication and routing, before the operation;
	// an error refuses the call with that error (metering.Error kinds or
	// *awsproto.Error).
	Before(ctx context.Context, c *Call) error
	// After runs once the answer is written, for every call, refused or not.
	After(ctx context.Context, c *Call)
}

// NoHooks does nothing.
type NoHooks struct{}

// Before allows every call.
func (NoHooks) Before(context.Context, *Call) error { return nil }

// After does nothing.
func (NoHooks) After(context.Context, *Call) {}

// name is declared here, beside the protocol names hooks see.
func (cborCodec) name() string { return "rpcv2Cbor" }
