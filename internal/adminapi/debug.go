package adminapi

import (
	"context"
	"net/http"
	"time"

	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/metering"
)

// RecordLister reads the stored records of one customer, product and hour,
// for the record debugger.
type RecordLister interface {
	// HourRecords returns the records of product for customer (account
	// id, customer identifier or license ARN) in the UTC hour holding
	// hour, oldest first.
	HourRecords(ctx context.Context, product, customer string, hour time.Time) ([]metering.Record, error)
}

// DebugRecords is the answer of GET /debug/records: what was stored for a
// customer, product and hour, and every attempt that was not, with why.
type DebugRecords struct {
	Product  string          `json:"product"`
	Customer string          `json:"customer"`
	Hour     time.Time       `json:"hour"`
	Records  []DebugRecord   `json:"records"`
	Attempts []audit.Attempt `json:"attempts"`
}

// DebugRecord is one stored usage record.
type DebugRecord struct {
	ID                 string       `json:"id"`
	Operation          string       `json:"operation"`
	Dimension          string       `json:"dimension"`
	Quantity           int64        `json:"quantity"`
	Timestamp          time.Time    `json:"timestamp"`
	Identity           string       `json:"identity"`
	CustomerAccountID  string       `json:"customer_account_id"`
	CustomerIdentifier string       `json:"customer_identifier,omitempty"`
	LicenseArn         string       `json:"license_arn,omitempty"`
	Resource           string       `json:"resource,omitempty"`
	AccessKeyID        string       `json:"access_key_id"`
	ClientToken        string       `json:"client_token,omitempty"`
	Allocations        []Allocation `json:"allocations,omitempty"`
	MeteredAt          time.Time    `json:"metered_at"`
}

// Allocation is a part of a record's quantity put on a tag set.
type Allocation struct {
	Quantity int64 `json:"quantity"`
	Tags     []Tag `json:"tags"`
}

// Tag is an allocation tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (s *Server) debugRecords(w http.ResponseWriter, r *http.Request) error {
	v := s.o.Visibility
	if v.Records == nil && v.Audit == nil {
		return unavailable("record debugger")
	}
	q := r.URL.Query()
	product, customer := q.Get("product"), q.Get("customer")
	if product == "" {
		return badParam("product", "required: the product code")
	}
	if customer == "" {
		return badParam("customer", "required: the customer's account id, customer identifier or license ARN")
	}
	hour, err := parseTime(q, "hour")
	if err != nil {
		return err
	}
	if hour.IsZero() {
		return badParam("hour", "required: an RFC 3339 time in the hour, such as 2026-11-23T05:00:00Z")
	}
	hour = hour.UTC().Truncate(time.Hour)
	out := DebugRecords{Product: product, Customer: customer, Hour: hour, Records: []DebugRecord{}, Attempts: []audit.Attempt{}}
	var recs []metering.Record
	if v.Records != nil {
		if recs, err = v.Records.HourRecords(r.Context(), product, customer, hour); err != nil {
			return err
		}
	}
	if v.Audit != nil {
		attempts, err := v.Audit.Attempts(r.Context(), audit.AttemptFilter{ProductCode: product, Customer: customer, Hour: hour})
		if err != nil {
			return err
		}
		audit.Explain(recs, attempts)
		out.Attempts = append(out.Attempts, attempts...)
	}
	for _, x := range recs {
		d := DebugRecord{
			ID: x.ID, Operation: x.Operation, Dimension: x.Dimension, Quantity: x.Quantity,
			Timestamp: x.Timestamp.UTC(), Identity: string(x.Identity),
			CustomerAccountID: x.CustomerAccountID, CustomerIdentifier: x.CustomerIdentifier,
			LicenseArn: x.LicenseArn, Resource: x.Resource, AccessKeyID: x.AccessKeyID,
			ClientToken: x.ClientToken, MeteredAt: x.CreatedAt.UTC(),
		}
		for _, a := range x.Allocations {
			al := Allocation{Quantity: a.Quantity, Tags: []Tag{}}
			for _, t := range a.Tags {
				al.Tags = append(al.Tags, Tag{Key: t.Key, Value: t.Value})
			}
			d.Allocations = append(d.Allocations, al)
		}
		out.Records = append(out.Records, d)
	}
	return writeJSON(w, http.StatusOK, out)
}
