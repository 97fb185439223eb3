package sigv4

import (
	"bytes"
	"net/http"
	"testing"
	"time"
)

// FuzzVerify throws arbitrary Authorization, date and hash headers at the
// verifier: it must answer an *Error or a result, never panic, and never
// accept a request it did not verify.
func FuzzVerify(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/aws-marketplace/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000", "20261123T032249Z", "", []byte(`{}`))
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/aws-marketplace/aws4_request,SignedHeaders=content-type;date;host,Signature=zz", "", "20261123T032249Z", []byte(`{"a":1}`))
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;;, Signature=", "garbage", "", []byte{})
	f.Add("Basic dXNlcjpwYXNz", "20261123T032249Z", "", []byte(`x`))
	f.Fuzz(func(t *testing.T, auth, amzDate, date string, body []byte) {
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:1/", bytes.NewReader(body))
		if err != nil {
			return
		}
		r.Header.Set("Authorization", auth)
		if amzDate != "" {
			r.Header.Set("X-Amz-Date", amzDate)
		}
		if date != "" {
			r.Header.Set("Date", date)
		}
		v := &Verifier{
			Service: "aws-marketplace",
			Now:     func() time.Time { return time.Date(2026, 11, 23, 3, 22, 49, 0, time.UTC) },
			Secret: func(id string) (string, bool) {
				return "secret", id == "AKIDEXAMPLE"
			},
		}
		res, err := v.Verify(r, body)
		if err == nil {
			t.Fatalf("accepted a fuzzed signature: %+v", res)
		}
		if _, ok := err.(*Error); !ok {
			t.Fatalf("error of type %T", err)
		}
	})
}
