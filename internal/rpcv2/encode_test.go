package rpcv2

import (
	"bytes"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	smithycbor "github.com/aws/smithy-go/encoding/cbor"

	"github.com/meterd/meterd/internal/awsproto"
)

// TestMarshalHeads checks integers and lengths against RFC 8949 appendix A.
func TestMarshalHeads(t *testing.T) {
	ints := map[int64]string{
		0: "00", 1: "01", 10: "0a", 23: "17", 24: "1818", 25: "1819", 100: "1864", 1000: "1903e8",
		1000000: "1a000f4240", 1000000000000: "1b000000e8d4a51000", math.MaxInt64: "1b7fffffffffffffff",
		-1: "20", -10: "29", -100: "3863", -1000: "3903e7", math.MinInt64: "3b7fffffffffffffff",
	}
	for n, want := range ints {
		if got, _ := Marshal(n); hex.EncodeToString(got) != want {
			t.Errorf("%d: %x, want %s", n, got, want)
		}
	}
	others := []struct {
		v    any
		want string
	}{
		{uint64(math.MaxUint64), "1bffffffffffffffff"},
		{"", "60"}, {"a", "6161"}, {"IETF", "6449455446"}, {"\u00fc", "62c3bc"}, {"\u6c34", "63e6b0b4"},
		{"\xff", "63efbfbd"}, // not UTF-8: repaired
		{[]byte{1, 2, 3, 4}, "4401020304"},
		{[]int{1, 2, 3}, "83010203"}, {[]string{}, "80"},
		{map[string]int{"b": 2, "a": 1}, "a2616101616202"},
		{true, "f5"}, {false, "f4"}, {nil, "f6"}, {(*int)(nil), "f6"},
		{1.1, "fb3ff199999999999a"}, {float32(100000), "fa47c35000"}, {math.Inf(-1), "fbfff0000000000000"},
	}
	for _, tt := range others {
		if got, err := Marshal(tt.v); err != nil || hex.EncodeToString(got) != tt.want {
			t.Errorf("%#v: %x %v, want %s", tt.v, got, err, tt.want)
		}
	}
	long, _ := Marshal(string(bytes.Repeat([]byte("x"), 300)))
	if !bytes.HasPrefix(long, h("79 012c")) || len(long) != 303 {
		t.Errorf("300-byte text: % x", long[:4])
	}
	if _, err := Marshal(map[int]int{1: 1}); err == nil {
		t.Error("map with int keys encoded")
	}
	if _, err := Marshal(make(chan int)); err == nil {
		t.Error("channel encoded")
	}
}

type value struct {
	IntegerValue *int64   `json:"IntegerValue,omitempty"`
	DoubleValue  *float64 `json:"DoubleValue,omitempty"`
	BooleanValue *bool    `json:"BooleanValue,omitempty"`
	StringValue  *string  `json:"StringValue,omitempty"`
}

type entitlement struct {
	ProductCode    string              `json:"ProductCode"`
	Dimension      string              `json:"Dimension"`
	Customer       string              `json:"CustomerIdentifier,omitempty"`
	Value          value               `json:"Value"`
	ExpirationDate *awsproto.Timestamp `json:"ExpirationDate,omitempty"`
	Internal       string              `json:"-"`
	Renamed        int                 `cbor:"Other" json:"NotThis"`
	unexported     int
}

type page struct {
	Entitlements []entitlement `json:"Entitlements"`
	NextToken    string        `json:"NextToken,omitempty"`
}

// TestMarshalStruct: members by tag, absent ones left out, integers as
// integers, doubles as doubles, timestamps as tag 1.
func TestMarshalStruct(t *testing.T) {
	p := page{Entitlements: []entitlement{
		{ProductCode: "p", Dimension: "users", Customer: "c", Value: value{IntegerValue: ptr(int64(100))},
			ExpirationDate: &awsproto.Timestamp{Time: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, Internal: "x", unexported: 1},
		{ProductCode: "p", Dimension: "gb", Value: value{DoubleValue: ptr(2.5)}, Renamed: -2},
	}}
	got, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := h(`a1 6c"Entitlements" 82
		a6 6b"ProductCode" 61"p" 69"Dimension" 65"users" 72"CustomerIdentifier" 61"c" 65"Value" a1 6c"IntegerValue" 18 64
		   6e"ExpirationDate" c1 1a 70dbd880 65"Other" 00
		a4 6b"ProductCode" 61"p" 69"Dimension" 62"gb" 65"Value" a1 6b"DoubleValue" fb 4004000000000000 65"Other" 21`)
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}

	// smithy-go's own decoder reads it as the same tree.
	v, err := smithycbor.Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	e0 := v.(smithycbor.Map)["Entitlements"].(smithycbor.List)[0].(smithycbor.Map)
	if iv := e0["Value"].(smithycbor.Map)["IntegerValue"]; iv != smithycbor.Uint(100) {
		t.Fatalf("IntegerValue %#v", iv)
	}
	if tag := e0["ExpirationDate"].(*smithycbor.Tag); tag.ID != 1 || tag.Value != smithycbor.Uint(1893456000) {
		t.Fatalf("ExpirationDate %#v", tag)
	}

	// And ours reads it back.
	var back page
	if err := Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	p.Entitlements[0].Internal, p.Entitlements[0].unexported = "", 0
	back.Entitlements[0].ExpirationDate.Time = back.Entitlements[0].ExpirationDate.Time.UTC()
	if !reflect.DeepEqual(back, p) {
		t.Fatalf("round trip: %+v", back)
	}
}

// TestMarshalTimes: integer seconds when whole, else a double that every
// reader turns back into the same millisecond, including smithy-go's,
// which truncates f*1e3.
func TestMarshalTimes(t *testing.T) {
	whole, _ := Marshal(time.Unix(1767225600, 999999).UTC()) // below a millisecond: dropped
	if !bytes.Equal(whole, h("c1 1a 6955b900")) {
		t.Fatalf("%x", whole)
	}
	neg, _ := Marshal(time.Unix(-100, 0))
	if !bytes.Equal(neg, h("c1 38 63")) {
		t.Fatalf("%x", neg)
	}
	r := rand.New(rand.NewPCG(1, 2))
	check := func(ms int64) {
		b, _ := Marshal(time.UnixMilli(ms))
		if ms%1000 == 0 {
			return
		}
		if b[0] != 0xc1 || b[1] != 0xfb || len(b) != 10 {
			t.Fatalf("%d: %x", ms, b)
		}
		f := math.Float64frombits(uint64FromBytes(b[2:]))
		if got := int64(f * 1e3); got != ms { // smithy-go ReadTime
			t.Fatalf("%d ms encoded as %v, truncated back to %d", ms, f, got)
		}
		if got := int64(math.Round(f * 1e3)); got != ms { // readers that round
			t.Fatalf("%d ms encoded as %v, rounded back to %d", ms, f, got)
		}
		var v struct {
			T time.Time `json:"t"`
		}
		if err := Unmarshal(append(h(`a1 61"t"`), b...), &v); err != nil || v.T.UnixMilli() != ms {
			t.Fatalf("%d: %v %v", ms, v.T, err)
		}
	}
	// Up to 9999-12-31T23:59:59Z, the decoder's bound (as awsproto's).
	const maxMs = 253402300799000
	for _, ms := range []int64{1, 123, 1767225600123, 1767225600001, 1767225600999, -1, -1500, maxMs - 1, -maxMs + 1} {
		check(ms)
	}
	for range 200000 {
		check(r.Int64N(maxMs*2) - maxMs)
	}
}

func uint64FromBytes(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

// TestErrorBody: the exact bytes smithy-go writes in its response
// snapshots, and what its error reader extracts.
func TestErrorBody(t *testing.T) {
	got := ErrorBody("InvalidParameterException", "__Message__")
	want := h(`bf 66"__type" 78 19 "InvalidParameterException" 67"message" 6b"__Message__" ff`)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
	v, err := smithycbor.Decode(got)
	if err != nil {
		t.Fatal(err)
	}
	m := v.(smithycbor.Map)
	if m["__type"] != smithycbor.String("InvalidParameterException") || m["message"] != smithycbor.String("__Message__") || len(m) != 2 {
		t.Fatalf("%#v", m)
	}
}

func TestWriteErrorAndResponse(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteError(rec, awsproto.Errorf(http.StatusForbidden, "InvalidSignatureException", "bad \xff"))
	if rec.Code != 403 || rec.Header().Get("Smithy-Protocol") != "rpc-v2-cbor" || rec.Header().Get("Content-Type") != "application/cbor" ||
		rec.Header().Get("X-Amzn-ErrorType") != "InvalidSignatureException" || rec.Header().Get("Content-Length") != "52" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	if !bytes.Equal(rec.Body.Bytes(), ErrorBody("InvalidSignatureException", "bad \uFFFD")) {
		t.Fatalf("%x", rec.Body.Bytes())
	}
	if err := Valid(rec.Body.Bytes()); err != nil {
		t.Fatal(err)
	}

	rec = httptest.NewRecorder()
	WriteError(rec, &awsproto.Error{Code: "ThrottlingException"}) // no status, no message
	if rec.Code != 500 || !bytes.Equal(rec.Body.Bytes(), ErrorBody("ThrottlingException", "ThrottlingException")) {
		t.Fatalf("%d %x", rec.Code, rec.Body.Bytes())
	}

	rec = httptest.NewRecorder()
	WriteResponse(rec, page{Entitlements: []entitlement{}})
	if rec.Code != 200 || rec.Header().Get("Smithy-Protocol") != "rpc-v2-cbor" || rec.Header().Get("Content-Type") != "application/cbor" ||
		!bytes.Equal(rec.Body.Bytes(), h(`a1 6c"Entitlements" 80`)) {
		t.Fatalf("%d %v %x", rec.Code, rec.Header(), rec.Body.Bytes())
	}

	rec = httptest.NewRecorder()
	WriteResponse(rec, struct{ C chan int }{make(chan int)})
	if rec.Code != 500 || !bytes.Contains(rec.Body.Bytes(), []byte("InternalServiceErrorException")) {
		t.Fatalf("%d %x", rec.Code, rec.Body.Bytes())
	}
}

func TestCheckContentType(t *testing.T) {
	for _, ok := range []string{"application/cbor", "Application/CBOR", "application/cbor; charset=binary", " application/cbor ;x=y", ""} {
		if err := CheckContentType(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"application/json", "application/x-amz-json-1.1", "application/cbor-seq", "text/plain"} {
		err := CheckContentType(bad)
		if pe, ok := err.(*awsproto.Error); !ok || pe.Code != "SerializationException" || pe.Status != 400 {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestReadsSmithyEncoder: whatever smithy-go's generic encoder writes, we
// read (it writes definite lengths; the SDK's request serializer writes
// indefinite ones, covered in decode_test.go).
func TestReadsSmithyEncoder(t *testing.T) {
	body := smithycbor.Encode(smithycbor.Map{
		"ProductCode": smithycbor.String("acme-saas-legacy"),
		"Filter":      smithycbor.Map{"CUSTOMER_AWS_ACCOUNT_ID": smithycbor.List{smithycbor.String("444455556666")}},
		"MaxResults":  smithycbor.Uint(1),
		"NextToken":   &smithycbor.Nil{},
		"Unknown":     &smithycbor.Tag{ID: 1, Value: smithycbor.Float64(1.5)},
	})
	var got request
	if err := Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantRequest()) {
		t.Fatalf("%+v", got)
	}
}
