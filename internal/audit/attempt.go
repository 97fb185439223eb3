package audit

import (
	"fmt"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// Attempt is one usage record a metering call did not store: refused with
// the call's error, or given a per-record status other than Success.
type Attempt struct {
	Time      time.Time `json:"time"` // of the call
	Operation string    `json:"operation"`
	RequestID string    `json:"request_id"`
	// Index is the record's 1-based position in a BatchMeterUsage call;
	// 0 for MeterUsage.
	Index int `json:"index,omitempty"`

	ProductCode        string `json:"product_code"`
	CustomerAccountID  string `json:"customer_account_id,omitempty"`
	CustomerIdentifier string `json:"customer_identifier,omitempty"`
	LicenseArn         string `json:"license_arn,omitempty"`
	// ByLicense is set when the record named its customer by LicenseArn,
	// which AWS deduplicates apart from ProductCode records.
	ByLicense bool `json:"by_license,omitempty"`

	Dimension string    `json:"dimension"`
	Quantity  int64     `json:"quantity"`
	Timestamp time.Time `json:"timestamp,omitzero"` // as sent; zero when absent
	Hour      time.Time `json:"hour"`               // the UTC hour the record is for

	// Status is the per-record status (DuplicateRecord,
	// CustomerNotSubscribed, Unprocessed) or the call's error code.
	Status string `json:"status"`
	// Reason says in words why the record was not stored.
	Reason string `json:"reason"`
	// RecordID names the stored record a duplicate collided with, once
	// known.
	RecordID string `json:"record_id,omitempty"`
}

// AttemptFilter selects attempts: those for one product and hour whose
// customer is Customer (account id, customer identifier or license ARN;
// "" matches nothing).
type AttemptFilter struct {
	ProductCode string
	Customer    string
	Hour        time.Time
	Limit       int // 0: 1000
}

// DefaultAttemptLimit caps an attempt listing.
const DefaultAttemptLimit = 1000

// Match reports whether a passes f.
func (f AttemptFilter) Match(a *Attempt) bool {
	return f.Customer != "" && a.ProductCode == f.ProductCode && a.Hour.Equal(f.Hour) &&
		(f.Customer == a.CustomerAccountID || f.Customer == a.CustomerIdentifier || (a.LicenseArn != "" && f.Customer == a.LicenseArn))
}

// Duplicate statuses: the record's key was taken by a stored record with
// another quantity or allocation.
const (
	StatusDuplicateRecord  = "DuplicateRecord"           // BatchMeterUsage, per record
	StatusDuplicateRequest = "DuplicateRequestException" // MeterUsage
)

// Explain completes the reasons of attempts that collided with a stored
// record, now that the records of their hour are known: "duplicate of
// record X with quantity Y". A MeterUsage duplicate names its record; a
// BatchMeterUsage one is matched by dimension and identity kind, which
// with product, customer and hour make up its key.
func Explain(records []metering.Record, attempts []Attempt) {
	byID := make(map[string]*metering.Record, len(records))
	for i := range records {
		byID[records[i].ID] = &records[i]
	}
	for i := range attempts {
		a := &attempts[i]
		var rec *metering.Record
		switch a.Status {
		case StatusDuplicateRequest:
			rec = byID[a.RecordID]
		case StatusDuplicateRecord:
			for j := range records {
				r := &records[j]
				if r.Operation == "BatchMeterUsage" && r.Dimension == a.Dimension &&
					(r.Identity == metering.IdentityLicense) == a.ByLicense {
					rec = r
					break
				}
			}
		default:
			continue
		}
		if rec == nil {
			continue
		}
		a.RecordID = rec.ID
		a.Reason = fmt.Sprintf("duplicate of record %s with quantity %d", rec.ID, rec.Quantity)
		if rec.Quantity == a.Quantity {
			a.Reason += " (same quantity, different usage allocations)"
		} else {
			a.Reason += fmt.Sprintf(" (this attempt sent quantity %d)", a.Quantity)
		}
		a.Reason += fmt.Sprintf(", metered at %s", rec.CreatedAt.UTC().Format(time.RFC3339))
	}
}
