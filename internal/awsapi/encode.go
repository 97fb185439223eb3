package awsapi

import "github.com/meterd/meterd/internal/awsproto"

// BatchMeterUsage answers echo every record, so they encode themselves
// (awsproto.JSONAppender) instead of going through encoding/json's
// reflection: each method appends exactly what json.Marshal gives for its
// type, which TestAppendJSON checks on random values.

var _ awsproto.JSONAppender = batchMeterUsageResponse{}

// AppendJSON implements awsproto.JSONAppender.
func (r batchMeterUsageResponse) AppendJSON(b []byte) []byte {
	b = append(b, `{"Results":`...)
	if r.Results == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range r.Results {
			if i > 0 {
				b = append(b, ',')
			}
			b = r.Results[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	b = append(b, `,"UnprocessedRecords":`...)
	b = appendRecords(b, r.UnprocessedRecords)
	return append(b, '}')
}

func (r *usageRecordResultJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"UsageRecord":`...)
	b = r.UsageRecord.appendJSON(b)
	if r.MeteringRecordID != "" {
		b = append(b, `,"MeteringRecordId":`...)
		b = awsproto.AppendString(b, r.MeteringRecordID)
	}
	b = append(b, `,"Status":`...)
	b = awsproto.AppendString(b, r.Status)
	return append(b, '}')
}

// appendRecords appends recs as a JSON array, nil as null.
func appendRecords(b []byte, recs []usageRecordJSON) []byte {
	if recs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = recs[i].appendJSON(b)
	}
	return append(b, ']')
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
		o.b = awsproto.AppendString(o.b, *v)
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
	if r.Quantity != nil {
		o.key("Quantity")
		o.b = awsproto.AppendInt(o.b, int64(*r.Quantity))
	}
	if len(r.UsageAllocations) > 0 {
		o.key("UsageAllocations")
		o.b = append(o.b, '[')
		for i := range r.UsageAllocations {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			o.b = r.UsageAllocations[i].appendJSON(o.b)
		}
		o.b = append(o.b, ']')
	}
	o.str("CustomerAWSAccountId", r.CustomerAWSAccountID)
	o.str("LicenseArn", r.LicenseArn)
	return append(o.b, '}')
}

func (a *allocationJSON) appendJSON(b []byte) []byte {
	o := jsonObject{b: append(b, '{')}
	if a.AllocatedUsageQuantity != nil {
		o.key("AllocatedUsageQuantity")
		o.b = awsproto.AppendInt(o.b, int64(*a.AllocatedUsageQuantity))
	}
	if len(a.Tags) > 0 {
		o.key("Tags")
		o.b = append(o.b, '[')
		for i := range a.Tags {
			if i > 0 {
				o.b = append(o.b, ',')
			}
			t := jsonObject{b: append(o.b, '{')}
			t.str("Key", a.Tags[i].Key)
			t.str("Value", a.Tags[i].Value)
			o.b = append(t.b, '}')
		}
		o.b = append(o.b, ']')
	}
	return append(o.b, '}')
}
