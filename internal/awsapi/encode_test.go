package awsapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/awsproto"
)

// strs are strings json.Marshal copies and strings it escapes.
var strs = []string{"", "plain", "Cust1000001", "arn:aws:license-manager::111111111111:license:l-0123", "a\"b", `back\slash`,
	"<tag>&amp;", "tab\there", "nul\x00", "\x7f", "é ü 日本", "line\u2028sep\u2029", "bad\xffutf8", "\x1f"}

func randStr(r *rand.Rand) *string {
	if r.IntN(5) == 0 {
		return nil
	}
	s := strs[r.IntN(len(strs))]
	return &s
}

func randInt(r *rand.Rand) *awsproto.Integer {
	if r.IntN(5) == 0 {
		return nil
	}
	n := awsproto.Integer([]int64{0, 1, -1, 42, 1 << 62, -1 << 63}[r.IntN(6)])
	return &n
}

func randRecord(r *rand.Rand) usageRecordJSON {
	rec := usageRecordJSON{CustomerIdentifier: randStr(r), Dimension: randStr(r), Quantity: randInt(r),
		CustomerAWSAccountID: randStr(r), LicenseArn: randStr(r)}
	if r.IntN(5) > 0 {
		ms := []int64{0, 1700000000000, 1700000000123, 1700000000100, -1500, 253402300799999}[r.IntN(6)]
		rec.Timestamp = &awsproto.Timestamp{Time: time.UnixMilli(ms).UTC()}
	}
	switch r.IntN(4) {
	case 0:
		rec.UsageAllocations = []allocationJSON{}
	case 1:
		for range r.IntN(3) + 1 {
			a := allocationJSON{AllocatedUsageQuantity: randInt(r)}
			if r.IntN(3) == 0 {
				a.Tags = []tagJSON{}
			} else {
				for range r.IntN(3) {
					a.Tags = append(a.Tags, tagJSON{Key: randStr(r), Value: randStr(r)})
				}
			}
			rec.UsageAllocations = append(rec.UsageAllocations, a)
		}
	}
	return rec
}

// TestAppendJSON checks that BatchMeterUsage answers encode to exactly
// what encoding/json gives for them, escapes, absent members, empty and
// nil lists included.
func TestAppendJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var resp batchMeterUsageResponse
		if i%7 != 0 {
			resp.Results = []usageRecordResultJSON{}
			for range r.IntN(4) {
				id := []string{"", "6f1c0d47-ded2-4f9d-9d3e-7e9b1f0a6b11"}[r.IntN(2)]
				resp.Results = append(resp.Results, usageRecordResultJSON{UsageRecord: randRecord(r), MeteringRecordID: id,
					Status: []string{"Success", "CustomerNotSubscribed", "DuplicateRecord"}[r.IntN(3)]})
			}
		}
		if i%3 != 0 {
			resp.UnprocessedRecords = []usageRecordJSON{}
			for range r.IntN(2) {
				resp.UnprocessedRecords = append(resp.UnprocessedRecords, randRecord(r))
			}
		}
		want, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// TestWriteJSONAppender checks the answer WriteJSON sends for a value
// that encodes itself, twice, so that a pooled buffer is reused.
func TestWriteJSONAppender(t *testing.T) {
	resp := batchMeterUsageResponse{Results: []usageRecordResultJSON{{UsageRecord: randRecord(rand.New(rand.NewPCG(3, 4))), Status: "Success"}},
		UnprocessedRecords: []usageRecordJSON{}}
	want, _ := json.Marshal(resp)
	for range 2 {
		w := httptest.NewRecorder()
		awsproto.WriteJSON(w, resp)
		if got := w.Body.Bytes(); !bytes.Equal(got, want) || w.Header().Get("Content-Length") != itoa(len(want)) {
			t.Fatalf("WriteJSON sent %s (Content-Length %s), want %s", got, w.Header().Get("Content-Length"), want)
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// BenchmarkBatchAnswer encodes a 25-record BatchMeterUsage answer, as
// WriteJSON does it (AppendJSON) and as encoding/json would.
func BenchmarkBatchAnswer(b *testing.B) {
	resp := batchMeterUsageResponse{UnprocessedRecords: []usageRecordJSON{}}
	for i := range 25 {
		ts := awsproto.Timestamp{Time: time.Unix(1700000000+int64(i), 0).UTC()}
		cust, dim, q := "Cust100000"+itoa(i%10), "dimension-"+itoa(i), awsproto.Integer(i)
		resp.Results = append(resp.Results, usageRecordResultJSON{UsageRecord: usageRecordJSON{Timestamp: &ts, CustomerIdentifier: &cust,
			Dimension: &dim, Quantity: &q}, MeteringRecordID: "6f1c0d47-ded2-4f9d-9d3e-7e9b1f0a6b11", Status: "Success"})
	}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = resp.AppendJSON(buf[:0])
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(resp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
