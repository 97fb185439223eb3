package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	smithycbor "github.com/aws/smithy-go/encoding/cbor"

	"github.com/meterd/meterd/internal/awsproto"
	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metering/meteringtest"
	"github.com/meterd/meterd/internal/rpcv2"
	"github.com/meterd/meterd/internal/sigv4/sigv4test"
)

const cborPath = "/service/AWSMPEntitlementService/operation/GetEntitlements"

// readCBORSnap reads a snapshot whose body is binary: the first line, an
// optional blank line, headers, a blank line, then the body byte for byte
// (readSnap splits the body into lines, which CBOR does not survive).
func readCBORSnap(t *testing.T, path string) snap {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	rest = bytes.TrimLeft(rest, "\n")
	head, body, ok := bytes.Cut(rest, []byte("\n\n"))
	if !ok {
		t.Fatalf("%s: no body", path)
	}
	s := snap{first: string(first), header: map[string]string{}, body: body}
	for line := range strings.SplitSeq(string(head), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		s.header[k] = v
	}
	return s
}

func entitlementSnapDir(t *testing.T) string {
	return filepath.Join(sigv4test.SharedDir(t), "aws-models", "go-sdk-snapshots", "marketplaceentitlementservice-git")
}

// TestCBORRequestSnapshots decodes the Go SDK's own GetEntitlements request
// snapshots (definite-length maps, two member orders) and routes them.
func TestCBORRequestSnapshots(t *testing.T) {
	h, _ := newCBORHandler(t)
	want := getEntitlementsRequest{
		ProductCode: cborPtr("__ProductCode__"),
		Filter:      map[string][]string{"key0": {"__Member__", "__Member__"}},
		NextToken:   cborPtr("__NextToken__"),
		MaxResults:  cborPtr(awsproto.Integer(1)),
	}
	for _, kind := range []string{"request_snapshot", "serde_snapshot"} {
		s := readCBORSnap(t, filepath.Join(entitlementSnapDir(t), kind, "GetEntitlements.request.snap"))
		method, path, _ := strings.Cut(s.first, " ")
		if method != http.MethodPost || path != cborPath || s.header["Smithy-Protocol"] != rpcv2.Protocol {
			t.Fatalf("%s: %q %v", kind, s.first, s.header)
		}
		r := httptest.NewRequest(method, path, nil)
		target, c, ops := h.route(r)
		if _, ok := c.(cborCodec); !ok || target != EntitlementPrefix+"GetEntitlements" || ops[target] == nil {
			t.Fatalf("%s: routed to %q %T", kind, target, c)
		}
		if err := c.checkContentType(s.header["Content-Type"]); err != nil {
			t.Fatal(err)
		}
		var got getEntitlementsRequest
		if err := rpcv2.Unmarshal(s.body, &got); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: decoded %+v", kind, got)
		}
		// The current SDK's form of the same input: indefinite lengths,
		// alphabetical members.
		current := cborHex(`bf 66"Filter" bf 64"key0" 9f 6a"__Member__" 6a"__Member__" ff ff 6a"MaxResults" 01
			69"NextToken" 6d"__NextToken__" 6b"ProductCode" 6f"__ProductCode__" ff`)
		got = getEntitlementsRequest{}
		if err := rpcv2.Unmarshal(current, &got); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("current form: %+v %v", got, err)
		}
		// Same tree as smithy-go's generic decoder sees.
		a, errA := smithycbor.Decode(s.body)
		b, errB := smithycbor.Decode(current)
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("%v %v\n%#v\n%#v", errA, errB, a, b)
		}
	}
}

// TestCBORErrorSnapshots: for each of the SDK's error snapshots, the same
// status from our error table, the same headers, and the same body (the
// very bytes: we write the SDK's indefinite-length form).
func TestCBORErrorSnapshots(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(entitlementSnapDir(t), "response_snapshot", "*.error.snap"))
	if len(paths) != 3 {
		t.Fatalf("found %d error snapshots", len(paths))
	}
	byCode := map[string]int{}
	for _, w := range wireErrors {
		byCode[w.code] = w.status
	}
	for _, p := range paths {
		s := readCBORSnap(t, p)
		v, err := smithycbor.Decode(s.body)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		env := v.(smithycbor.Map)
		code, msg := string(env["__type"].(smithycbor.String)), string(env["message"].(smithycbor.String))
		wantStatus, _ := strconv.Atoi(s.first)
		if got, ok := byCode[code]; !ok || got != wantStatus {
			t.Errorf("%s: our status %d, snapshot %d", code, got, wantStatus)
		}
		rec := newRecorder()
		cborCodec{}.writeError(rec, &awsproto.Error{Status: byCode[code], Code: code, Message: msg})
		if rec.status != wantStatus || !bytes.Equal(rec.body.Bytes(), s.body) {
			t.Errorf("%s: %d %x, snapshot %d %x", code, rec.status, rec.body.Bytes(), wantStatus, s.body)
		}
		ours, err := smithycbor.Decode(rec.body.Bytes())
		if err != nil || !reflect.DeepEqual(ours, v) {
			t.Errorf("%s: decoded %#v %v", code, ours, err)
		}
		for _, k := range []string{"Content-Type", "Smithy-Protocol"} {
			if rec.header.Get(k) != s.header[k] {
				t.Errorf("%s: %s %q, snapshot %q", code, k, rec.header.Get(k), s.header[k])
			}
		}
	}
	// An internal error keeps its detail out of the body.
	rec := newRecorder()
	cborCodec{}.writeError(rec, wireError(errors.New("database on fire")))
	v, _ := smithycbor.Decode(rec.body.Bytes())
	if rec.status != 500 || v.(smithycbor.Map)["__type"] != smithycbor.String("InternalServiceErrorException") ||
		bytes.Contains(rec.body.Bytes(), []byte("fire")) {
		t.Fatalf("%d %x", rec.status, rec.body.Bytes())
	}
}

func cborPtr[T any](v T) *T { return &v }

// cborHex: hex with spaces and quoted raw text, heads written out.
func cborHex(s string) []byte {
	var out []byte
	for len(s) > 0 {
		switch {
		case strings.IndexByte(" \n\t", s[0]) >= 0:
			s = s[1:]
		case s[0] == '"':
			end := strings.IndexByte(s[1:], '"')
			out = append(out, s[1:1+end]...)
			s = s[end+2:]
		default:
			b, err := hex.DecodeString(s[:2])
			if err != nil {
				panic(s)
			}
			out = append(out, b...)
			s = s[2:]
		}
	}
	return out
}

var cborNow = time.Date(2026, 11, 23, 12, 30, 0, 0, time.UTC)

func newCBORHandler(t *testing.T) (*Handler, *metering.Service) {
	t.Helper()
	clock := metering.ClockFunc(func() time.Time { return cborNow })
	svc, err := metering.NewService(context.Background(), metering.Options{Store: meteringtest.NewMemStore(), Clock: clock}, metering.Config{})
	if err != nil {
		t.Fatal(err)
	}
	users, gb := int64(100), 2.5
	st := metering.State{
		Region: "us-east-1",
		Accounts: []metering.Account{
			{ID: "111122223333", AccessKeys: []metering.AccessKey{{ID: "SELLER", Secret: "seller-secret"}}},
			{ID: "444455556666", AccessKeys: []metering.AccessKey{{ID: "BUYER", Secret: "buyer-secret"}}},
		},
		Products: []metering.Product{{Code: "saas", Seller: "111122223333", Type: metering.ProductSaaS, Dimensions: []string{"users", "gb"}}},
		Customers: []metering.Customer{{Product: "saas", AccountID: "444455556666", CustomerIdentifier: "cust-1",
			Entitlements: []metering.Entitlement{
				{Dimension: "users", Value: metering.EntitlementValue{Integer: &users}, Expires: time.Date(2030, 1, 1, 0, 0, 0, 500e6, time.UTC)},
				{Dimension: "gb", Value: metering.EntitlementValue{Double: &gb}},
			}}},
	}
	if err := svc.ApplyState(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	return New(Options{Service: svc, Clock: clock}), svc
}

type cborReply struct {
	status int
	header http.Header
	body   []byte
	value  smithycbor.Value
}

// code is the __type, checking the whole CBOR error contract on the way.
func (r cborReply) code(t *testing.T) string {
	t.Helper()
	if r.header.Get("Smithy-Protocol") != "rpc-v2-cbor" || r.header.Get("Content-Type") != "application/cbor" {
		t.Fatalf("headers %v", r.header)
	}
	m, ok := r.value.(smithycbor.Map)
	if !ok {
		t.Fatalf("body %x is not a CBOR map", r.body)
	}
	if r.status == 200 {
		return ""
	}
	code, _ := m["__type"].(smithycbor.String)
	msg, _ := m["message"].(smithycbor.String)
	if code == "" || msg == "" || r.header.Get("X-Amzn-ErrorType") != string(code) {
		t.Fatalf("error body %#v, headers %v", m, r.header)
	}
	return string(code)
}

func serveCBOR(t *testing.T, h *Handler, method, path string, body []byte, edit func(*http.Request), signed bool) cborReply {
	t.Helper()
	r := httptest.NewRequest(method, "http://meterd.test"+path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/cbor")
	r.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
	r.Header.Set("Accept", "application/cbor")
	if edit != nil {
		edit(r)
	}
	if signed {
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: "SELLER", SecretAccessKey: "seller-secret"}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), SigningName, "us-east-1", cborNow); err != nil {
			t.Fatal(err)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	v, err := smithycbor.Decode(w.Body.Bytes())
	if err != nil {
		t.Fatalf("%d %x: %v", w.Code, w.Body.Bytes(), err)
	}
	return cborReply{status: w.Code, header: w.Header(), body: w.Body.Bytes(), value: v}
}

// TestCBORHandler: every answer on the RPC v2 path is CBOR, errors of each
// stage of serve included.
func TestCBORHandler(t *testing.T) {
	h, _ := newCBORHandler(t)
	ok := cborHex(`bf 66"Filter" bf 77"CUSTOMER_AWS_ACCOUNT_ID" 9f 6c"444455556666" ff ff 6a"MaxResults" 18 19 6b"ProductCode" 64"saas" ff`)

	r := serveCBOR(t, h, http.MethodPost, cborPath, ok, nil, true)
	if r.status != 200 || r.code(t) != "" {
		t.Fatalf("%d %x", r.status, r.body)
	}
	ents := r.value.(smithycbor.Map)["Entitlements"].(smithycbor.List)
	if len(ents) != 2 {
		t.Fatalf("%#v", r.value)
	}
	users, gb := ents[0].(smithycbor.Map), ents[1].(smithycbor.Map)
	if users["Value"].(smithycbor.Map)["IntegerValue"] != smithycbor.Uint(100) ||
		gb["Value"].(smithycbor.Map)["DoubleValue"] != smithycbor.Float64(2.5) {
		t.Fatalf("values %#v %#v", users["Value"], gb["Value"])
	}
	if exp := users["ExpirationDate"].(*smithycbor.Tag); exp.ID != 1 || exp.Value != smithycbor.Float64(1893456000.5) {
		t.Fatalf("ExpirationDate %#v", exp)
	}
	if _, has := gb["ExpirationDate"]; has {
		t.Fatal("absent ExpirationDate sent")
	}
	if _, has := r.value.(smithycbor.Map)["NextToken"]; has {
		t.Fatal("NextToken on the last page")
	}
	if r.header.Get("x-amzn-RequestId") == "" {
		t.Fatal("no request id")
	}
	// A prefix before /service/ (a custom endpoint's base path) routes too.
	if r := serveCBOR(t, h, http.MethodPost, "/base"+cborPath, ok, nil, true); r.status != 200 {
		t.Fatalf("prefixed path: %d %x", r.status, r.body)
	}

	setCT := func(ct string) func(*http.Request) { return func(r *http.Request) { r.Header.Set("Content-Type", ct) } }
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		edit   func(*http.Request)
		signed bool
		status int
		code   string
	}{
		{"ContentTypeParameters", "POST", cborPath, ok, setCT("application/cbor; charset=x"), true, 200, ""},
		{"GET", "GET", cborPath, nil, nil, true, 405, "UnknownOperationException"},
		{"Unsigned", "POST", cborPath, ok, nil, false, 403, "MissingAuthenticationTokenException"},
		{"GarbledAuthorization", "POST", cborPath, ok, func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 garbage") }, false, 400, "IncompleteSignatureException"},
		{"MeteringOperation", "POST", "/service/AWSMPMeteringService/operation/MeterUsage", cborHex(`a0`), nil, true, 400, "UnknownOperationException"},
		{"UnknownOperation", "POST", "/service/AWSMPEntitlementService/operation/GetEverything", cborHex(`a0`), nil, true, 400, "UnknownOperationException"},
		{"JSONContentType", "POST", cborPath, ok, setCT("application/x-amz-json-1.1"), true, 400, "SerializationException"},
		{"Malformed", "POST", cborPath, cborHex(`bf 6b"ProductCode"`), nil, true, 400, "SerializationException"},
		{"JSONBody", "POST", cborPath, []byte(`{"ProductCode":"saas"}`), nil, true, 400, "SerializationException"},
		{"FloatMaxResults", "POST", cborPath, cborHex(`a2 6b"ProductCode" 64"saas" 6a"MaxResults" f9 3c00`), nil, true, 400, "SerializationException"},
		{"MapProductCode", "POST", cborPath, cborHex(`a1 6b"ProductCode" a0`), nil, true, 400, "SerializationException"},
		{"EmptyBody", "POST", cborPath, nil, nil, true, 400, "InvalidParameterException"},
		{"MaxResults0", "POST", cborPath, cborHex(`a2 6b"ProductCode" 64"saas" 6a"MaxResults" 00`), nil, true, 400, "InvalidParameterException"},
		{"MaxResultsHuge", "POST", cborPath, cborHex(`a2 6b"ProductCode" 64"saas" 6a"MaxResults" 1b ffffffffffffffff`), nil, true, 400, "InvalidParameterException"},
		{"TooLarge", "POST", cborPath, bytes.Repeat([]byte{0}, awsproto.MaxBodyBytes+1), nil, true, 413, "RequestEntityTooLargeException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := serveCBOR(t, h, tt.method, tt.path, tt.body, tt.edit, tt.signed)
			if got := r.code(t); r.status != tt.status || got != tt.code {
				t.Fatalf("got %d %s (%x), want %d %s", r.status, got, r.body, tt.status, tt.code)
			}
		})
	}

	// Every JSON operation but GetEntitlements is refused on this path,
	// with a message that says where it is served.
	for target := range h.ops {
		svc, op, _ := strings.Cut(target, ".")
		r := serveCBOR(t, h, http.MethodPost, "/service/"+svc+"/operation/"+op, cborHex(`a0`), nil, true)
		msg, _ := r.value.(smithycbor.Map)["message"].(smithycbor.String)
		switch code := r.code(t); {
		case target == EntitlementPrefix+"GetEntitlements":
			if code != "InvalidParameterException" {
				t.Errorf("%s: %s", target, code)
			}
		case code != "UnknownOperationException" || !strings.Contains(string(msg), "X-Amz-Target: "+target):
			t.Errorf("%s: %s %s", target, code, msg)
		}
	}
}

// TestCBORTamperedSignature: a body changed after signing.
func TestCBORTamperedSignature(t *testing.T) {
	h, _ := newCBORHandler(t)
	body := cborHex(`a1 6b"ProductCode" 64"saas"`)
	sum := sha256.Sum256(body)
	r := httptest.NewRequest("POST", "http://meterd.test"+cborPath, bytes.NewReader(append(body[:len(body)-1:len(body)-1], 'x')))
	r.Header.Set("Content-Type", "application/cbor")
	creds := aws.Credentials{AccessKeyID: "SELLER", SecretAccessKey: "seller-secret"}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), SigningName, "us-east-1", cborNow); err != nil {
		t.Fatal(err)
	}
	r.Header.Del("X-Amz-Content-Sha256")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	v, err := smithycbor.Decode(w.Body.Bytes())
	if err != nil || w.Code != 403 || v.(smithycbor.Map)["__type"] != smithycbor.String("InvalidSignatureException") {
		t.Fatalf("%d %x %v", w.Code, w.Body.Bytes(), err)
	}
}
