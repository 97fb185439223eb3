package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// storedJSONBefore is StoredJSON as encoding/json made it: the event
// without its raw members, which then replace their nulls.
func storedJSONBefore(e *Event) ([]byte, error) {
	bare := *e
	bare.RequestParameters, bare.ResponseElements = nil, nil
	b, err := json.Marshal(&bare)
	if err != nil {
		return nil, err
	}
	for _, m := range []struct {
		name string
		raw  json.RawMessage
	}{{`"requestParameters":null`, e.RequestParameters}, {`"responseElements":null`, e.ResponseElements}} {
		if len(m.raw) == 0 {
			continue
		}
		i := bytes.Index(b, []byte(m.name))
		if i < 0 {
			return nil, fmt.Errorf("no %s", m.name)
		}
		at := i + len(m.name) - len("null")
		b = slices.Concat(b[:at], m.raw, b[at+len("null"):])
	}
	return b, nil
}

// TestStoredJSON checks StoredJSON against encoding/json on random events:
// escapes, invalid UTF-8, empty members, times in and out of UTC.
func TestStoredJSON(t *testing.T) {
	strs := []string{"", "MeterUsage", "aws-sdk-go-v2/1.30 os/linux", "a\"b", `back\slash`, "<x>&", "\t\n\x00", "é日本",
		"\u2028", "bad\xff", "arn:aws:ec2:us-east-1:111111111111:instance/i-0123"}
	raws := []json.RawMessage{nil, {}, json.RawMessage(`{"ProductCode":"p","UsageQuantity":1}`), json.RawMessage(`"HIDDEN"`)}
	r := rand.New(rand.NewPCG(5, 6))
	s := func() string { return strs[r.IntN(len(strs))] }
	zones := []*time.Location{time.UTC, time.FixedZone("x", 5*3600+1800)}
	for i := range 3000 {
		e := Event{EventVersion: EventVersion, EventSource: s(), EventName: s(), AWSRegion: s(), SourceIPAddress: s(), UserAgent: s(),
			UserIdentity:      UserIdentity{Type: s(), AccountID: s(), AccessKeyID: s(), Resource: s()},
			RequestParameters: raws[r.IntN(len(raws))], ResponseElements: raws[r.IntN(len(raws))],
			ErrorCode: s(), ErrorMessage: s(), RequestID: s(), EventID: s(), EventType: s(), ReadOnly: r.IntN(2) == 0, Seq: int64(i),
			EventTime: time.Unix(1700000000+r.Int64N(1e6), []int64{0, 1e6, 123456789, 5e8}[r.IntN(4)]).In(zones[r.IntN(2)])}
		want, werr := storedJSONBefore(&e)
		got, err := e.StoredJSON()
		if (err != nil) != (werr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("event %d:\n got %s, %v\nwant %s, %v", i, got, err, want, werr)
		}
	}
	e := Event{EventTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := e.StoredJSON(); err == nil {
		t.Error("an event in the year 10000 encoded, as encoding/json refuses")
	}
}

// BenchmarkStoredJSON is a MeterUsage call's event.
func BenchmarkStoredJSON(b *testing.B) {
	e := Event{EventVersion: EventVersion, EventTime: time.Now().UTC(), EventSource: SourceMetering, EventName: "MeterUsage",
		AWSRegion: "us-east-1", SourceIPAddress: "127.0.0.1", UserAgent: "aws-sdk-go-v2/1.30.0 os/linux lang/go#1.26",
		UserIdentity:      UserIdentity{Type: IdentityIAMUser, AccountID: "111111111111", AccessKeyID: "AKIAIOSFODNN7EXAMPLE"},
		RequestParameters: json.RawMessage(`{"ProductCode":"6j9g7gq0s5ohsn1r8r3n4fbbm","Timestamp":1700000000,"UsageDimension":"d","UsageQuantity":1}`),
		ResponseElements:  json.RawMessage(`{"MeteringRecordId":"6f1c0d47-ded2-4f9d-9d3e-7e9b1f0a6b11"}`),
		RequestID:         "6f1c0d47-ded2-4f9d-9d3e-7e9b1f0a6b12", EventID: "6f1c0d47-ded2-4f9d-9d3e-7e9b1f0a6b13", EventType: TypeAPICall}
	b.Run("by-hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.StoredJSON(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := storedJSONBefore(&e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
