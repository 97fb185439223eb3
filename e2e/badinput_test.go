package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

type badCase struct {
	name   string
	target string
	body   []byte
	edits  []any // before/after request edits
	status int
	code   string
}

// badInputCorpus builds hostile and malformed requests, each with the
// exact answer AWS's front end would give.
func badInputCorpus(now time.Time) []badCase {
	ts := fmt.Sprint(now.Unix())
	meter := `{"ProductCode":"ami-1","Timestamp":` + ts + `,"UsageDimension":"hours","UsageQuantity":3}`
	batchBody := `{"ProductCode":"saas-both","UsageRecords":[{"Timestamp":` + ts + `,"CustomerIdentifier":"cust-1","Dimension":"users","Quantity":2}]}`
	var cs []badCase
	add := func(name, target, body string, status int, code string, edits ...any) {
		cs = append(cs, badCase{name, target, []byte(body), edits, status, code})
	}
	ser := func(name, target, body string) { add(name, target, body, 400, "SerializationException") }
	val := func(name, target, body string) { add(name, target, body, 400, "ValidationException") }

	// Every truncation of a valid body is malformed JSON (the empty one
	// reads as {} and misses required members).
	for _, b := range []string{meter, batchBody} {
		target := meterTarget
		if b == batchBody {
			target = batchTarget
		}
		for i := 1; i < len(b); i += 2 {
			ser(fmt.Sprintf("truncated/%s/%d", target[len(target)-10:], i), target, b[:i])
		}
	}
	// Wrong JSON types for every member.
	wrong := []string{`"x"`, `1`, `1.5`, `true`, `[]`, `{}`}
	members := map[string]string{"ProductCode": "string", "UsageDimension": "string", "UsageQuantity": "int", "DryRun": "bool", "ClientToken": "string", "UsageAllocations": "list", "Timestamp": "ts"}
	for m, kind := range members {
		for _, w := range wrong {
			ok := (kind == "string" && w == `"x"`) || (kind == "int" && w == `1`) || (kind == "bool" && w == `true`) ||
				(kind == "list" && w == `[]`) || (kind == "ts" && (w == `1` || w == `1.5`))
			if ok || (kind == "ts" && w == `"x"`) {
				continue
			}
			// The later duplicate member wins in Go's decoder; the wrong
			// value goes last so it is the one read.
			body := meterWith(meter, m, w)
			ser(fmt.Sprintf("wrongtype/%s/%s", m, w), meterTarget, body)
		}
	}
	for _, m := range []string{"Dimension", "CustomerIdentifier", "CustomerAWSAccountId", "LicenseArn"} {
		for _, w := range []string{`1`, `true`, `[]`, `{}`} {
			ser(fmt.Sprintf("record-wrongtype/%s/%s", m, w), batchTarget, strings.Replace(batchBody, `"Quantity":2`, `"Quantity":2,"`+m+`":`+w, 1))
		}
	}
	ser("timestamp/garbage-string", meterTarget, meterWith(meter, "Timestamp", `"x"`))
	ser("timestamp/object", meterTarget, meterWith(meter, "Timestamp", `{"s":1}`))
	ser("timestamp/huge", meterTarget, meterWith(meter, "Timestamp", `1e300`))
	ser("timestamp/nan-string", meterTarget, meterWith(meter, "Timestamp", `"NaN"`))
	ser("records/not-a-list", batchTarget, `{"ProductCode":"saas-both","UsageRecords":{"a":1}}`)
	ser("records/list-of-strings", batchTarget, `{"ProductCode":"saas-both","UsageRecords":["a"]}`)
	ser("record/quantity-string", batchTarget, strings.Replace(batchBody, `"Quantity":2`, `"Quantity":"2"`, 1))
	ser("record/quantity-fraction", batchTarget, strings.Replace(batchBody, `"Quantity":2`, `"Quantity":2.5`, 1))
	ser("allocation/tags-not-list", meterTarget, meterWith(meter, "UsageAllocations", `[{"AllocatedUsageQuantity":3,"Tags":"k=v"}]`))
	ser("allocation/tag-key-number", meterTarget, meterWith(meter, "UsageAllocations", `[{"AllocatedUsageQuantity":3,"Tags":[{"Key":1,"Value":"v"}]}]`))
	// Huge numbers: saturated, then refused by range.
	for _, n := range []string{"2147483648", "9223372036854775807", "9223372036854775808", "1e30", "-1", "-9223372036854775809"} {
		val("quantity/"+n, meterTarget, meterWith(meter, "UsageQuantity", n))
	}
	// Not JSON at all, or not an object.
	for i, b := range []string{"null", "1", `"s"`, "[{}]", "true", "\x00\x01", "\xff\xfe{", "{{}", `{"a":1}}`, `{"a":1,}`, `{'a':1}`, "<xml/>", "{\"ProductCode\":\"\xff\""} {
		ser(fmt.Sprintf("notjson/%d", i), meterTarget, b)
	}
	// Deep nesting.
	ser("deep/arrays", meterTarget, `{"X":`+strings.Repeat("[", 100000)+strings.Repeat("]", 100000)+`}`)
	add("deep/objects-unknown-member-ignored", meterTarget, meterWith(meter, "X", strings.Repeat(`{"a":`, 1000)+"1"+strings.Repeat("}", 1000)), 200, "")
	// Invalid UTF-8 inside strings is replaced, then refused by patterns.
	val("utf8/product", meterTarget, meterWith(meter, "ProductCode", "\"ami-\xff\""))
	// Bodies over 1 MiB.
	add("size/2MiB", meterTarget, `{"X":"`+strings.Repeat("a", 2<<20)+`"}`, 413, "RequestEntityTooLargeException")
	add("size/10MiB", batchTarget, `{"X":"`+strings.Repeat("a", 10<<20)+`"}`, 413, "RequestEntityTooLargeException")
	// Content types.
	for _, ct := range []string{"text/plain", "application/xml", "application/cbor", "multipart/form-data", "application/x-www-form-urlencoded"} {
		add("contenttype/"+ct, meterTarget, meter, 400, "SerializationException", before(func(r *http.Request) { r.Header.Set("Content-Type", ct) }))
	}
	// Targets.
	for _, tgt := range []string{"", "MeterUsage", "AWSMPMeteringService.", "AWSMPMeteringService.meterusage", "AWSMPMeteringService.MeterUsage2", "Other.MeterUsage", "AWSMPEntitlementService.MeterUsage", strings.Repeat("A", 5000)} {
		add("target/"+clipName(tgt), tgt, meter, 400, "UnknownOperationException")
	}
	// Signatures.
	add("sig/missing", meterTarget, meter, 403, "MissingAuthenticationTokenException", after(func(r *http.Request) { r.Header.Del("Authorization") }))
	add("sig/duplicated-authorization", meterTarget, meter, 400, "IncompleteSignatureException", after(func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) }))
	add("sig/duplicated-target-header", meterTarget, meter, 403, "InvalidSignatureException", after(func(r *http.Request) { r.Header.Add("X-Amz-Target", batchTarget) }))
	add("sig/body-changed", meterTarget, meter, 403, "InvalidSignatureException", after(func(r *http.Request) {
		b := []byte(strings.Replace(meter, `"UsageQuantity":3`, `"UsageQuantity":4`, 1))
		r.Body, r.ContentLength = nopCloser(b), int64(len(b))
	}))
	add("sig/replayed-outside-skew-old", meterTarget, meter, 403, "InvalidSignatureException", before(func(r *http.Request) { r.Header.Set("X-Skew", "-6m") }))
	add("sig/replayed-outside-skew-new", meterTarget, meter, 403, "InvalidSignatureException", before(func(r *http.Request) { r.Header.Set("X-Skew", "+6m") }))
	for i, auth := range []string{"AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=", "AWS4-HMAC-SHA1 Credential=a/b/c/d/e, SignedHeaders=host, Signature=00",
		"Bearer abc", "AWS4-HMAC-SHA256 Credential=AKIABUYER00000000001/20200101/us-east-1/aws-marketplace/aws4_request, SignedHeaders=host;x-amz-date, Signature=nothex"} {
		add(fmt.Sprintf("sig/malformed-%d", i), meterTarget, meter, 400, "IncompleteSignatureException", after(func(r *http.Request) { r.Header.Set("Authorization", auth) }))
	}
	add("sig/date-garbage", meterTarget, meter, 400, "IncompleteSignatureException", after(func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }))
	add("sig/payload-hash-mismatch", meterTarget, meter, 403, "InvalidSignatureException", after(func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64)) }))
	return cs
}

func meterWith(body, member, value string) string {
	return strings.TrimSuffix(body, "}") + `,"` + member + `":` + value + `}`
}

func clipName(s string) string {
	if s == "" {
		return "empty"
	}
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

func nopCloser(b []byte) readCloser { return readCloser{bytes.NewReader(b)} }

// TestBadInputCorpus sends every case and checks the exact error, that the
// process keeps serving, and that nothing was stored.
func TestBadInputCorpus(t *testing.T) {
	s := start(t, serverOpts{})
	cases := badInputCorpus(s.clock.Now())
	if len(cases) < 200 {
		t.Fatalf("corpus has %d cases, want at least 200", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			edits := c.edits
			var skew time.Duration
			probe, _ := http.NewRequest("POST", "/", nil)
			for _, e := range edits {
				if f, ok := e.(before); ok {
					f(probe)
				}
			}
			if v := probe.Header.Get("X-Skew"); v != "" {
				skew, _ = time.ParseDuration(v)
				edits = append(edits, after(func(r *http.Request) { r.Header.Del("X-Skew") }))
				// Sign at the skewed time; the server verifies at its own.
				r := s.postAt(t, time.Now().Add(skew), buyerKey, c.target, c.body, edits...)
				r.want(t, c.status, c.code)
				return
			}
			r := s.post(t, buyerKey, c.target, c.body, edits...)
			if c.status == 200 {
				if r.status != 200 {
					t.Fatalf("got %d %s", r.status, r.body)
				}
				return
			}
			r.want(t, c.status, c.code)
		})
	}
	// Still serving, and only the one accepted case stored anything.
	if _, err := s.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "vcpus", s.clock.Now(), 1)); err != nil {
		t.Fatalf("after the corpus: %v", err)
	}
	if n := s.records(t, metering.UsageFilter{}); n != 2 {
		t.Fatalf("%d records stored, want 2", n)
	}
	t.Logf("%d bad-input cases", len(cases))
}
