package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

type rawResponse struct {
	status int
	header http.Header
	body   []byte
	code   string // __type
	msg    string
}

// post sends a SigV4-signed awsJson1_1 request as an SDK would, with body
// exactly as given, so tests can send what no SDK would.
// before edits the request before signing, after edits it after signing.
type (
	before func(*http.Request)
	after  func(*http.Request)
)

func (s *server) post(t *testing.T, creds aws.Credentials, target string, body []byte, edits ...any) rawResponse {
	t.Helper()
	return s.postAt(t, s.clock.Now(), creds, target, body, edits...)
}

// postAt is post signed at a given time.
func (s *server) postAt(t *testing.T, signed time.Time, creds aws.Credentials, target string, body []byte, edits ...any) rawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.Endpoint()+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	for _, e := range edits {
		if f, ok := e.(before); ok {
			f(req)
		}
	}
	sum := sha256.Sum256(body)
	if creds.AccessKeyID != "" {
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "aws-marketplace", "us-east-1", signed); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range edits {
		if f, ok := e.(after); ok {
			f(req)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
	var env struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &env) == nil {
		r.code, r.msg = env.Type, env.Message
	}
	return r
}

func (r rawResponse) want(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status || r.code != code {
		t.Fatalf("got %d %s (%s), want %d %s", r.status, r.code, r.body, status, code)
	}
	if code != "" {
		if r.header.Get("X-Amzn-ErrorType") != code {
			t.Fatalf("X-Amzn-ErrorType %q, want %q", r.header.Get("X-Amzn-ErrorType"), code)
		}
		if r.msg == "" {
			t.Fatal("empty message")
		}
	}
	if r.header.Get("x-amzn-RequestId") == "" || r.header.Get("Date") == "" {
		t.Fatalf("missing x-amzn-RequestId or Date: %v", r.header)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Fatalf("Content-Type %q", ct)
	}
}

const meterTarget = "AWSMPMeteringService.MeterUsage"
const batchTarget = "AWSMPMeteringService.BatchMeterUsage"

func TestProtocol(t *testing.T) {
	s := start(t, serverOpts{})
	ts := s.clock.Now().Unix()
	meter := func(extra string) []byte {
		return []byte(`{"ProductCode":"ami-1","UsageDimension":"hours","UsageQuantity":1,"Timestamp":` + jsonNum(ts) + extra + `}`)
	}
	tests := []struct {
		name   string
		creds  aws.Credentials
		target string
		body   []byte
		edit   any
		status int
		code   string
	}{
		{"OK", buyerKey, meterTarget, meter(""), nil, 200, ""},
		{"UnknownMembersIgnored", buyerKey, meterTarget, meter(`,"FutureMember":{"x":[1,2]}`), nil, 200, ""},
		{"NullIsAbsent", buyerKey, meterTarget, meter(`,"UsageAllocations":null,"ClientToken":null,"DryRun":null`), nil, 200, ""},
		{"ContentTypeWithParameters", buyerKey, meterTarget, meter(""), before(func(r *http.Request) { r.Header.Set("Content-Type", "application/x-amz-json-1.1; charset=utf-8") }), 200, ""},
		{"WrongContentType", buyerKey, meterTarget, meter(""), before(func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }), 400, "SerializationException"},
		{"UnknownOperation", buyerKey, "AWSMPMeteringService.StealUsage", []byte(`{}`), nil, 400, "UnknownOperationException"},
		{"NoTarget", buyerKey, "", []byte(`{}`), nil, 400, "UnknownOperationException"},
		{"MalformedJSON", buyerKey, meterTarget, []byte(`{"ProductCode":`), nil, 400, "SerializationException"},
		{"NotAnObject", buyerKey, meterTarget, []byte(`[1,2]`), nil, 400, "SerializationException"},
		{"WrongType", buyerKey, meterTarget, []byte(`{"ProductCode":5,"UsageDimension":"hours","Timestamp":1}`), nil, 400, "SerializationException"},
		{"FractionalQuantity", buyerKey, meterTarget, meter(`,"UsageQuantity":1.5`), nil, 400, "SerializationException"},
		{"BooleanAsString", buyerKey, meterTarget, meter(`,"DryRun":"true"`), nil, 400, "SerializationException"},
		{"GarbageTimestamp", buyerKey, meterTarget, []byte(`{"ProductCode":"ami-1","UsageDimension":"hours","Timestamp":"yesterday"}`), nil, 400, "SerializationException"},
		{"HugeQuantity", buyerKey, meterTarget, meter(`,"UsageQuantity":99999999999999999999999`), nil, 400, "ValidationException"},
		{"EmptyBodyIsEmptyObject", buyerKey, meterTarget, nil, nil, 400, "ValidationException"},
		{"NoAuthorization", aws.Credentials{}, meterTarget, meter(""), nil, 403, "MissingAuthenticationTokenException"},
		{"GarbledAuthorization", buyerKey, meterTarget, meter(""), after(func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage") }), 400, "IncompleteSignatureException"},
		{"TamperedAfterSigning", buyerKey, meterTarget, meter(""), after(func(r *http.Request) { r.Header.Set("X-Amz-Target", batchTarget) }), 403, "InvalidSignatureException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var edits []any
			if tt.edit != nil {
				edits = append(edits, tt.edit)
			}
			r := s.post(t, tt.creds, tt.target, tt.body, edits...)
			r.want(t, tt.status, tt.code)
		})
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestTimestampEncodings(t *testing.T) {
	s := start(t, serverOpts{})
	now := s.clock.Now().UTC()
	hour := now.Truncate(time.Hour)
	forms := []string{
		jsonNum(hour.Unix()),                           // Ruby, botocore
		jsonNum(hour.Unix()) + ".000",                  // Go v2 millis
		fmt.Sprintf("%.9e", float64(hour.Unix())),      // exponent form
		`"` + hour.Format(time.RFC3339) + `"`,          // Perl, ISO 8601
		`"` + hour.Format("2006-01-02T15:04:05") + `"`, // ISO without zone: UTC
		`"` + jsonNum(hour.Unix()) + `"`,               // Perl, epoch digits
	}
	var first string
	for _, f := range forms {
		r := s.post(t, buyerKey, meterTarget, []byte(`{"ProductCode":"ami-1","UsageDimension":"hours","UsageQuantity":2,"Timestamp":`+f+`}`))
		r.want(t, 200, "")
		var out struct{ MeteringRecordId string }
		json.Unmarshal(r.body, &out)
		if first == "" {
			first = out.MeteringRecordId
		} else if out.MeteringRecordId != first {
			t.Fatalf("timestamp %s read as another hour: %s vs %s", f, out.MeteringRecordId, first)
		}
	}
}

func TestBodyLimits(t *testing.T) {
	s := start(t, serverOpts{})
	big := append([]byte(`{"ProductCode":"`), bytes.Repeat([]byte("a"), 2<<20)...)
	big = append(big, `"}`...)
	r := s.post(t, buyerKey, meterTarget, big)
	if r.status != http.StatusRequestEntityTooLarge || r.code == "" {
		t.Fatalf("2 MB body: %d %s", r.status, r.code)
	}
	r = s.post(t, buyerKey, meterTarget, []byte(`{}`), after(func(req *http.Request) { req.Header.Set("Content-Type", "text/plain") }))
	// The content type is signed, so changing it breaks the signature first.
	r.want(t, 403, "InvalidSignatureException")
}
