package rpcv2

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/awsproto"
)

// h builds bytes from hex with spaces and quoted text, in the notation of
// docs and hex dumps: h(`bf 66"Filter" ff`). A quoted part is its raw bytes;
// heads are always written out.
func h(s string) []byte {
	var out []byte
	for len(s) > 0 {
		switch {
		case s[0] == ' ' || s[0] == '\n' || s[0] == '\t':
			s = s[1:]
		case s[0] == '"':
			end := strings.IndexByte(s[1:], '"')
			out = append(out, s[1:1+end]...)
			s = s[end+2:]
		default:
			b, err := hex.DecodeString(s[:2])
			if err != nil {
				panic("bad hex in " + s)
			}
			out = append(out, b...)
			s = s[2:]
		}
	}
	return out
}

// request has the shape of an operation input: pointer members, a map of
// lists, an integer with saturation like awsproto.Integer.
type request struct {
	ProductCode *string             `json:"ProductCode"`
	Filter      map[string][]string `json:"Filter"`
	NextToken   *string             `json:"NextToken"`
	MaxResults  *awsproto.Integer   `json:"MaxResults"`
}

func ptr[T any](v T) *T { return &v }

func wantRequest() request {
	return request{
		ProductCode: ptr("acme-saas-legacy"),
		Filter:      map[string][]string{"CUSTOMER_AWS_ACCOUNT_ID": {"444455556666"}},
		MaxResults:  ptr(awsproto.Integer(1)),
	}
}

// TestUnmarshalForms: every form a client may use for the same request.
func TestUnmarshalForms(t *testing.T) {
	forms := map[string]string{
		// smithy-go >= 1.27 (entitlement client >= v1.40): indefinite maps
		// and arrays, members in alphabetical order.
		"sdk-current": `bf 66"Filter" bf 77"CUSTOMER_AWS_ACCOUNT_ID" 9f 6c"444455556666" ff ff 6a"MaxResults" 01 6b"ProductCode" 70"acme-saas-legacy" ff`,
		// v1.37 to v1.39: definite maps in any order.
		"sdk-definite": `a3 6b"ProductCode" 70"acme-saas-legacy" 66"Filter" a1 77"CUSTOMER_AWS_ACCOUNT_ID" 81 6c"444455556666" 6a"MaxResults" 01`,
		// Arguments in longer forms than needed are well-formed.
		"long-heads": `b9 0003 78 0b "ProductCode" 7a 00000010 "acme-saas-legacy" 66"Filter" ba 00000001 77"CUSTOMER_AWS_ACCOUNT_ID" 98 01 6c"444455556666" 6a"MaxResults" 1b 0000000000000001`,
		// Indefinite-length text in keys and values.
		"chunked-strings": `bf 7f 64"Prod" 67"uctCode" ff 7f 64"acme" 60 6c"-saas-legacy" ff 66"Filter" bf 7f 77"CUSTOMER_AWS_ACCOUNT_ID" ff 9f 7f 6c"444455556666" ff ff ff 6a"MaxResults" 01 ff`,
		// Self-described CBOR tag, unknown members of every kind, null and
		// undefined members.
		"extras": `d9d9f7 bf 69"NextToken" f6 6b"ProductCode" 70"acme-saas-legacy" 66"Future" bf 61"a" 9f 01 20 f93c00 fb3ff0000000000000 f5 c1 1a5f000000 42 0102 5f 41 01 ff ff 61"b" a1 01 02 ff
			6a"MaxResults" 01 65"Other" f7 66"Filter" a1 77"CUSTOMER_AWS_ACCOUNT_ID" 9f 6c"444455556666" ff ff`,
	}
	for name, form := range forms {
		t.Run(name, func(t *testing.T) {
			body := h(form)
			var got request
			if err := Unmarshal(body, &got); err != nil {
				t.Fatalf("%x: %v", body, err)
			}
			if !reflect.DeepEqual(got, wantRequest()) {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestUnmarshalEmpty(t *testing.T) {
	for _, body := range [][]byte{nil, {}, h("a0"), h("bf ff"), h("d9d9f7 a0")} {
		var got request
		if err := Unmarshal(body, &got); err != nil {
			t.Fatalf("%x: %v", body, err)
		}
		if !reflect.DeepEqual(got, request{}) {
			t.Fatalf("%x: %+v", body, got)
		}
	}
	// An empty list and an empty map stay present (not nil).
	var got request
	if err := Unmarshal(h(`a1 66"Filter" a1 69"DIMENSION" 80`), &got); err != nil {
		t.Fatal(err)
	}
	if v, ok := got.Filter["DIMENSION"]; !ok || v == nil || len(v) != 0 {
		t.Fatalf("%#v", got.Filter)
	}
	// A null list in a map is there, and nil, as smithy-go reads it.
	got = request{}
	if err := Unmarshal(h(`a1 66"Filter" a1 69"DIMENSION" f6`), &got); err != nil {
		t.Fatal(err)
	}
	if v, ok := got.Filter["DIMENSION"]; !ok || v != nil {
		t.Fatalf("%#v", got.Filter)
	}
}

func serializationCode(t *testing.T, err error) string {
	t.Helper()
	var pe *awsproto.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not an *awsproto.Error", err, err)
	}
	if pe.Status != 400 || pe.Code != "SerializationException" || pe.Message == "" {
		t.Fatalf("got %d %s %q", pe.Status, pe.Code, pe.Message)
	}
	return pe.Message
}

func TestUnmarshalTypeErrors(t *testing.T) {
	tests := []struct{ body, inMessage string }{
		{`a1 6a"MaxResults" fb3ff0000000000000`, "Value of type float at 'MaxResults' cannot be read as an integer"},
		{`a1 6a"MaxResults" f93c00`, "float at 'MaxResults'"},
		{`a1 6a"MaxResults" 61"1"`, "text string at 'MaxResults'"},
		{`a1 6a"MaxResults" f5`, "boolean at 'MaxResults'"},
		{`a1 6a"MaxResults" c2 41 01`, "tag 2 at 'MaxResults'"},
		{`a1 6b"ProductCode" a1 61"a" 61"b"`, "map at 'ProductCode' cannot be read as a string"},
		{`a1 6b"ProductCode" bf ff`, "map at 'ProductCode'"},
		{`a1 6b"ProductCode" 9f ff`, "array at 'ProductCode'"},
		{`a1 6b"ProductCode" 41 61`, "byte string at 'ProductCode'"},
		{`a1 6b"ProductCode" 05`, "integer at 'ProductCode'"},
		{`a1 66"Filter" 9f ff`, "array at 'Filter' cannot be read as a map"},
		{`a1 66"Filter" a1 69"DIMENSION" 61"x"`, "text string at 'Filter.DIMENSION' cannot be read as a list"},
		{`a1 66"Filter" a1 69"DIMENSION" 82 61"x" 01`, "integer at 'Filter.DIMENSION[1]' cannot be read as a string"},
		{`a1 66"Filter" a1 01 80`, "keys must be text strings"},
		{`a1 69"NextToken" 9f 61"a" ff`, "array at 'NextToken'"},
	}
	for _, tt := range tests {
		var got request
		msg := serializationCode(t, Unmarshal(h(tt.body), &got))
		if !strings.Contains(msg, tt.inMessage) {
			t.Errorf("%s: message %q, want it to contain %q", tt.body, msg, tt.inMessage)
		}
	}
}

func TestUnmarshalMalformed(t *testing.T) {
	tests := map[string]string{
		"not a map":                 `9f ff`,
		"text at top":               `61"a"`,
		"null body":                 `f6`,
		"truncated map":             `a2 61"a" 01`,
		"truncated head":            `a1 6a"MaxResults" 19 00`,
		"truncated string":          `a1 6b"ProductCode" 65 6162`,
		"unterminated indefinite":   `bf 6b"ProductCode" 61"a"`,
		"reserved info 28":          `a1 6a"MaxResults" 1c`,
		"reserved info 30":          `a1 61"x" 5e`,
		"indefinite integer":        `a1 6a"MaxResults" 1f`,
		"indefinite tag":            `a1 61"x" df 01`,
		"break in definite map":     `a1 ff`,
		"break in definite array":   `a1 61"x" 81 ff`,
		"break between key & value": `bf 61"x" ff`,
		"break at top":              `ff`,
		"chunk of other type":       `a1 6b"ProductCode" 7f 41 61 ff`,
		"nested indefinite chunk":   `a1 6b"ProductCode" 7f 7f ff ff`,
		"invalid UTF-8 value":       `a1 6b"ProductCode" 62 c328`,
		"invalid UTF-8 key":         `a1 62 ff61 01`,
		"invalid UTF-8 skipped":     `a1 61"x" 61 80`,
		"UTF-8 split over chunks":   `a1 6b"ProductCode" 7f 61 c3 61 a9 ff`,
		"two-byte simple below 32":  `a1 61"x" f8 14`,
		"trailing bytes":            `a0 00`,
		"second map":                `a0 a0`,
		"duplicate member":          `a2 6b"ProductCode" 61"a" 6b"ProductCode" 61"b"`,
		"duplicate null member":     `a2 6b"ProductCode" f6 6b"ProductCode" 61"b"`,
		"duplicate map key":         `a1 66"Filter" a2 61"k" 80 61"k" 80`,
		"huge declared map":         `bb ffffffffffffffff`,
		"huge declared array":       `a1 61"x" 9b 7fffffffffffffff`,
		"huge declared string":      `a1 61"x" 7b ffffffffffffffff`,
		"huge declared list":        `a1 66"Filter" a1 61"k" 9a ffffffff`,
		"huge declared bytes chunk": `a1 61"x" 5f 5b 00000000ffffffff ff`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			var got request
			serializationCode(t, Unmarshal(h(body), &got))
		})
	}
}

func TestUnmarshalLimits(t *testing.T) {
	nest := func(n int, open, close string) []byte {
		return h(`a1 61"x" ` + strings.Repeat(open+" ", n) + "00 " + strings.Repeat(close+" ", n))
	}
	var got request
	// The body's map is level 1, so MaxDepth-1 levels fit in a member.
	if err := Unmarshal(nest(MaxDepth-1, "81", ""), &got); err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	for _, b := range [][]byte{
		nest(MaxDepth, "81", ""),
		nest(MaxDepth, "9f", "ff"),
		nest(MaxDepth, "a1 00", ""),
		nest(MaxDepth, "c6", ""), // tag 1 must wrap a number (RFC 8949 3.4.2): another tag
	} {
		msg := serializationCode(t, Unmarshal(b, &got))
		if !strings.Contains(msg, "nesting deeper") {
			t.Errorf("%x: %s", b[:8], msg)
		}
	}
	// A megabyte of nesting fails at the limit, not on the stack.
	deep := append(h(`a1 61"x"`), bytes.Repeat([]byte{0x9f}, 1<<20)...)
	serializationCode(t, Unmarshal(deep, &got))
	deepTags := append(h(`a1 61"x"`), bytes.Repeat([]byte{0xc6}, 1<<20)...)
	serializationCode(t, Unmarshal(deepTags, &got))
	// Self-described tags are passed over in a loop, not nested.
	manyTags := append(bytes.Repeat(h("d9d9f7"), 100000), h(`a1 6b"ProductCode" 61"a"`)...)
	if err := Unmarshal(manyTags, &got); err != nil {
		t.Fatal(err)
	}

	// MaxItems counts every element and pair, skipped ones too.
	items := func(n int) []byte {
		b := h(`a1 61"x"`)
		b = appendHead(b, majorArray, uint64(n))
		return append(b, bytes.Repeat([]byte{0}, n)...)
	}
	if err := Unmarshal(items(MaxItems-1), &got); err != nil {
		t.Fatal(err)
	}
	msg := serializationCode(t, Unmarshal(items(MaxItems), &got))
	if !strings.Contains(msg, "more than") {
		t.Fatal(msg)
	}
	list := h(`a1 66"Filter" a1 61"k" 9f`)
	list = append(list, bytes.Repeat(h(`60`), MaxItems)...)
	serializationCode(t, Unmarshal(append(list, 0xff), &got))
}

// TestUnmarshalNeverAllocatesDeclaredLengths: lengths are checked against
// the data before anything is allocated.
func TestUnmarshalNeverAllocatesDeclaredLengths(t *testing.T) {
	body := h(`a1 66"Filter" a1 61"k" 9a 000fffff`)
	var got request
	allocs := testing.AllocsPerRun(10, func() { Unmarshal(body, &got) })
	if allocs > 50 {
		t.Fatalf("%v allocations", allocs)
	}
}

func TestUnmarshalIntegers(t *testing.T) {
	type ints struct {
		I64 *int64  `json:"i64"`
		I32 *int32  `json:"i32"`
		I8  int8    `json:"i8"`
		U16 *uint16 `json:"u16"`
	}
	ok := []struct {
		body string
		want ints
	}{
		{`a1 63"i64" 1b 7fffffffffffffff`, ints{I64: ptr(int64(math.MaxInt64))}},
		{`a1 63"i64" 1b ffffffffffffffff`, ints{I64: ptr(int64(math.MaxInt64))}}, // saturates
		{`a1 63"i64" 3b 7fffffffffffffff`, ints{I64: ptr(int64(math.MinInt64))}},
		{`a1 63"i64" 3b ffffffffffffffff`, ints{I64: ptr(int64(math.MinInt64))}}, // saturates
		{`a1 63"i64" 20`, ints{I64: ptr(int64(-1))}},
		{`a1 63"i64" 38 63`, ints{I64: ptr(int64(-100))}},
		{`a1 63"i32" 1a 7fffffff`, ints{I32: ptr(int32(math.MaxInt32))}},
		{`a1 63"i32" 3a 7fffffff`, ints{I32: ptr(int32(math.MinInt32))}},
		{`a1 62"i8" 38 7f`, ints{I8: -128}},
		{`a1 63"u16" 19 ffff`, ints{U16: ptr(uint16(65535))}},
	}
	for _, tt := range ok {
		var got ints
		if err := Unmarshal(h(tt.body), &got); err != nil {
			t.Fatalf("%s: %v", tt.body, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Fatalf("%s: %+v", tt.body, got)
		}
	}
	bad := map[string]string{
		`a1 63"i32" 1a 80000000`:         "2147483648 at 'i32' is out of range",
		`a1 63"i32" 3a 80000000`:         "-2147483649",
		`a1 63"i32" 1b ffffffffffffffff`: "18446744073709551615",
		`a1 63"i32" 3b ffffffffffffffff`: "-18446744073709551616",
		`a1 62"i8" 18 80`:                "128",
		`a1 63"u16" 20`:                  "-1 at 'u16'",
		`a1 63"u16" 1a 00010000`:         "65536",
	}
	for body, want := range bad {
		var got ints
		if msg := serializationCode(t, Unmarshal(h(body), &got)); !strings.Contains(msg, want) {
			t.Errorf("%s: %s", body, msg)
		}
	}
}

func TestUnmarshalFloatsAndBools(t *testing.T) {
	type v struct {
		F   float64  `json:"f"`
		F32 *float32 `json:"f32"`
		B   *bool    `json:"b"`
	}
	floats := map[string]float64{
		`f9 3c00`: 1, `f9 c000`: -2, `f9 7bff`: 65504, `f9 0001`: 5.960464477539063e-8,
		`f9 0400`: 6.103515625e-05, `f9 3555`: 0.333251953125, `f9 7c00`: math.Inf(1), `f9 fc00`: math.Inf(-1),
		`fa 47c35000`: 100000, `fa 7f7fffff`: 3.4028234663852886e+38,
		`fb 3ff199999999999a`: 1.1, `fb c010666666666666`: -4.1,
		`00`: 0, `18 64`: 100, `38 63`: -100, `1b ffffffffffffffff`: 18446744073709551615,
	}
	for enc, want := range floats {
		var got v
		if err := Unmarshal(h(`a1 61"f" `+enc), &got); err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if got.F != want {
			t.Errorf("%s: got %v, want %v", enc, got.F, want)
		}
	}
	var got v
	if err := Unmarshal(h(`a1 61"f" f9 7e00`), &got); err != nil || !math.IsNaN(got.F) {
		t.Fatalf("NaN: %v %v", got.F, err)
	}
	if err := Unmarshal(h(`a1 63"f32" fb 3ff0000000000000`), &got); err != nil || *got.F32 != 1 {
		t.Fatalf("f32: %v", err)
	}
	serializationCode(t, Unmarshal(h(`a1 63"f32" fb 7fefffffffffffff`), &got))
	serializationCode(t, Unmarshal(h(`a1 61"f" 61"1"`), &got))
	serializationCode(t, Unmarshal(h(`a1 61"f" f5`), &got))

	for enc, want := range map[string]bool{`f5`: true, `f4`: false} {
		got = v{}
		if err := Unmarshal(h(`a1 61"b" `+enc), &got); err != nil || *got.B != want {
			t.Fatalf("%s: %v", enc, err)
		}
	}
	for _, enc := range []string{`01`, `00`, `61"true"`, `e0`, `f8 20`, `f0`} {
		serializationCode(t, Unmarshal(h(`a1 61"b" `+enc), &got))
	}
}

func TestUnmarshalTimestampsAndBlobs(t *testing.T) {
	type v struct {
		T  time.Time           `json:"t"`
		P  *awsproto.Timestamp `json:"p"`
		Bl []byte              `json:"bl"`
	}
	times := map[string]time.Time{
		`c1 1a 6955b900`:         time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		`c1 fb 41da556e4007df3b`: time.Date(2026, 1, 1, 0, 0, 0, 123e6, time.UTC),
		`c1 fa 4ed2ab72`:         time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), // single precision
		`c1 20`:                  time.Unix(-1, 0).UTC(),
		`1a 6955b900`:            time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), // untagged: accepted
		`c1 1b 0000003afff4417f`: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	}
	for enc, want := range times {
		var got v
		if err := Unmarshal(h(`a2 61"t" `+enc+` 61"p" `+enc), &got); err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if !got.T.Equal(want) || got.T.Location() != time.UTC || !got.P.Equal(want) {
			t.Errorf("%s: got %v / %v, want %v", enc, got.T, got.P, want)
		}
	}
	for _, enc := range []string{`c0 74"2026-01-01T00:00:00Z"`, `c1 61"1"`, `61"1767225600"`, `c1 1b 0000003afff44180`, `c1 fb 7ff8000000000000`, `c1 f9 7c00`, `c1 3b ffffffffffffffff`, `c2 41 01`} {
		var got v
		serializationCode(t, Unmarshal(h(`a1 61"t" `+enc), &got))
	}

	var got v
	if err := Unmarshal(h(`a1 62"bl" 5f 42 0102 41 03 ff`), &got); err != nil || !bytes.Equal(got.Bl, []byte{1, 2, 3}) {
		t.Fatalf("blob: %x %v", got.Bl, err)
	}
	serializationCode(t, Unmarshal(h(`a1 62"bl" 61"a"`), &got))
}

// TestUnmarshalRejectsUnsupportedTargets: a programming error, not a client
// error, and no panic.
func TestUnmarshalRejectsUnsupportedTargets(t *testing.T) {
	var notPtr request
	if err := Unmarshal(h(`a0`), notPtr); err == nil {
		t.Fatal("non-pointer accepted")
	}
	var anyMember struct {
		X any `json:"x"`
	}
	err := Unmarshal(h(`a1 61"x" 01`), &anyMember)
	var pe *awsproto.Error
	if err == nil || errors.As(err, &pe) {
		t.Fatalf("got %v", err)
	}
}

func TestValid(t *testing.T) {
	for _, good := range []string{`00`, `f6`, `bf ff`, `9f 9f ff ff`, `c1 00`, `d9d9f7 a0`, `5f ff`, `7f 60 ff`} {
		if err := Valid(h(good)); err != nil {
			t.Errorf("%s: %v", good, err)
		}
	}
	for _, bad := range []string{``, `ff`, `a1 00`, `00 00`, `1c`, `7f 41 00 ff`, `f8 00`} {
		if err := Valid(h(bad)); err == nil {
			t.Errorf("%s: valid", bad)
		}
	}
}
