package awsapi

import (
	"strconv"

	"github.com/meterd/meterd/internal/awsproto"
	"github.com/meterd/meterd/internal/jsonappend"
)

// BatchMeterUsage answers echo every record, so they encode themselves
// (awsproto.JSONAppender) instead of going through encoding/json's
// reflection: each method appends exactly what json.Marshal gives for its
// type, which TestAppendJSON checks on random values.

var _ awsproto.JSONAppender = batchMeterUsageResponse{}

// AppendJSON implements awsproto.JSONAppender.
func (r batchMeterUsageResponse) AppendJSON(b []byte) []byte {
	b = append(b, `{"Results":`...)
	b = jsonappend.Array(b, r.Results, (*usageRecordResultJSON).appendJSON)
	b = append(b, `,"UnprocessedRecords":`...)
	b = jsonappend.Array(b, r.UnprocessedRecords, (*usageRecordJSON).appendJSON)
	return append(b, '}')
}

func (r *usageRecordResultJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"UsageRecord":`...)
	b = r.UsageRecord.appendJSON(b)
	if r.MeteringRecordID != "" {
		b = append(b, `,"MeteringRecordId":`...)
		b = jsonappend.String(b, r.MeteringRecordID)
	}
	b = append(b, `,"Status":`...)
	b = jsonappend.String(b, r.Status)
	return append(b, '}')
}

// jsonObject appends the members of one object, each after a comma but
// the first.
type jsonObject struct {
	b    []byte
	more bool
}

func (o *jsonObject) key(k string) {
	if o.more {
		o.b = append(o.b, ',')
	}
	o.more = true
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, '"', ':')
}

func (o *jsonObject) str(k string, v *string) {
	if v != nil {
		o.key(k)
		o.b = jsonappend.String(o.b, *v)
	}
}

func (o *jsonObject) int(k string, v *awsproto.Integer) {
	if v != nil {
		o.key(k)
		o.b = strconv.AppendInt(o.b, int64(*v), 10)
	}
}

func (r *usageRecordJSON) appendJSON(b []byte) []byte {
	o := jsonObject{b: append(b, '{')}
	if r.Timestamp != nil {
		o.key("Timestamp")
		o.b = r.Timestamp.AppendJSON(o.b)
	}
	o.str("CustomerIdentifier", r.CustomerIdentifier)
	o.str("Dimension", r.Dimension)
	o.int("Quantity", r.Quantity)
	if len(r.UsageAllocations) > 0 { // omitempty
		o.key("UsageAllocations")
		o.b = jsonappend.Array(o.b, r.UsageAllocations, (*allocationJSON).appendJSON)
	}
	o.str("CustomerAWSAccountId", r.CustomerAWSAccountID)
	o.str("LicenseArn", r.LicenseArn)
	return append(o.b, '}')
}

func (a *allocationJSON) appendJSON(b []byte) []byte {
	o := jsonObject{b: append(b, '{')}
	o.int("AllocatedUsageQuantity", a.AllocatedUsageQuantity)
	if len(a.Tags) > 0 { // omitempty
		o.key("Tags")
		o.b = jsonappend.Array(o.b, a.Tags, (*tagJSON).appendJSON)
	}
	return append(o.b, '}')
}

func (t *tagJSON) appendJSON(b []byte) []byte {
	o := jsonObject{b: append(b, '{')}
	o.str("Key", t.Key)
	o.str("Value", t.Value)
	return append(o.b, '}')
}
