package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/audit/audittest"
	"github.com/meterd/meterd/internal/metering"
)

func TestMemStore(t *testing.T) {
	audittest.RunStoreTests(t, func(t *testing.T) audit.Store { return audit.NewMemStore(0) })
}

// fakeClock is a clock tests move.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// start returns a log whose writer only writes when asked (or at Close).
func start(t *testing.T, s audit.Store, clock *fakeClock) *audit.Log {
	t.Helper()
	l := audit.Start(s, audit.Options{Now: clock.Now, FlushInterval: time.Hour, PruneInterval: time.Hour, Retention: 24 * time.Hour})
	t.Cleanup(func() { l.Close() })
	return l
}

// TestVisibleAtOnce checks that a lookup sees every event recorded before
// it, though the writer's interval has not passed.
func TestVisibleAtOnce(t *testing.T) {
	clock := &fakeClock{now: audittest.T0}
	l := start(t, audit.NewMemStore(0), clock)
	for i := range 3 {
		l.Record(audittest.Event(i), nil)
		p, err := l.Lookup(t.Context(), audit.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) != i+1 || p.Events[0].RequestID != audittest.Event(i).RequestID {
			t.Fatalf("after %d events the lookup saw %d", i+1, len(p.Events))
		}
	}
	l.Record(audittest.Event(9), []audit.Attempt{{ProductCode: "p", CustomerAccountID: "c", Hour: audittest.T0, Reason: "r"}})
	as, err := l.Attempts(t.Context(), audit.AttemptFilter{ProductCode: "p", Customer: "c", Hour: audittest.T0})
	if err != nil || len(as) != 1 {
		t.Fatalf("attempts %v, %v", as, err)
	}
}

func TestFilterErrors(t *testing.T) {
	l := start(t, audit.NewMemStore(0), &fakeClock{})
	for _, f := range []audit.Filter{
		{MaxResults: 51},
		{MaxResults: -1},
		{StartTime: audittest.T0, EndTime: audittest.T0.Add(-time.Second)},
		{NextToken: "not-a-token"},
	} {
		if _, err := l.Lookup(t.Context(), f); err == nil {
			t.Errorf("%+v: no error", f)
		}
	}
}

// TestRetention checks pruning against the injected clock.
func TestRetention(t *testing.T) {
	clock := &fakeClock{now: audittest.T0}
	s := audit.NewMemStore(0)
	l := start(t, s, clock)
	for i := range 10 {
		l.Record(audittest.Event(i), nil) // T0 .. T0+9s
	}
	if err := l.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	clock.Set(audittest.T0.Add(24*time.Hour + 5*time.Second))
	n, err := l.Prune(t.Context())
	if err != nil || n != 5 {
		t.Fatalf("pruned %d, %v; want 5 events older than a day", n, err)
	}
	p, _ := l.Lookup(t.Context(), audit.Filter{})
	if len(p.Events) != 5 || p.Events[4].RequestID != "req-5" {
		t.Errorf("left %d events", len(p.Events))
	}
}

// failing fails its writes until told otherwise.
type failing struct {
	*audit.MemStore
	mu   sync.Mutex
	fail bool
}

func (f *failing) AppendAudit(ctx context.Context, evs []audit.Event, as []audit.Attempt) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return f.MemStore.AppendAudit(ctx, evs, as)
}

// TestStoreFailure checks that a failed write fails reads and loses no
// event once the store recovers.
func TestStoreFailure(t *testing.T) {
	s := &failing{MemStore: audit.NewMemStore(0), fail: true}
	l := start(t, s, &fakeClock{now: audittest.T0})
	l.Record(audittest.Event(1), nil)
	if _, err := l.Lookup(t.Context(), audit.Filter{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("lookup while the store fails: %v", err)
	}
	l.Record(audittest.Event(2), nil)
	s.mu.Lock()
	s.fail = false
	s.mu.Unlock()
	p, err := l.Lookup(t.Context(), audit.Filter{})
	if err != nil || len(p.Events) != 2 {
		t.Fatalf("after recovery: %d events, %v", len(p.Events), err)
	}
}

func TestSubscribe(t *testing.T) {
	l := start(t, audit.NewMemStore(0), &fakeClock{})
	ch, cancel := l.Subscribe(2)
	slow, cancelSlow := l.Subscribe(1)
	defer cancelSlow()
	for i := range 3 {
		l.Record(audittest.Event(i), nil)
	}
	for i := range 2 {
		if ev := <-ch; ev.RequestID != audittest.Event(i).RequestID {
			t.Errorf("event %d is %s", i, ev.RequestID)
		}
	}
	// The slow subscriber missed events rather than blocking Record.
	if ev := <-slow; ev.RequestID != "req-0" {
		t.Errorf("slow subscriber got %s", ev.RequestID)
	}
	cancel()
	cancel()
	if _, ok := <-ch; ok {
		// The third event may be buffered; then the channel closes.
		if _, ok := <-ch; ok {
			t.Error("channel open after cancel")
		}
	}
	l.CloseStreams()
	if _, ok := <-slow; ok {
		t.Error("stream open after CloseStreams")
	}
	late, _ := l.Subscribe(1)
	if _, ok := <-late; ok {
		t.Error("a subscription after CloseStreams is open")
	}
}

func TestCloseWritesQueue(t *testing.T) {
	s := audit.NewMemStore(0)
	l := audit.Start(s, audit.Options{FlushInterval: time.Hour})
	l.Record(audittest.Event(1), nil)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	f := audit.Filter{}
	_ = f.Normalize()
	p, _ := s.LookupEvents(t.Context(), f)
	if len(p.Events) != 1 {
		t.Errorf("Close left %d events stored, want 1", len(p.Events))
	}
	if _, err := l.Lookup(t.Context(), audit.Filter{}); err != nil && !errors.Is(err, audit.ErrClosed) {
		t.Errorf("lookup after close: %v", err)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"RegistrationToken":"abc"}`, `{"RegistrationToken":"HIDDEN_DUE_TO_SECURITY_REASONS"}`},
		{`{"access_keys":[{"id":"AKIA1","secret":"s3cr3t"}]}`, `{"access_keys":[{"id":"AKIA1","secret":"HIDDEN_DUE_TO_SECURITY_REASONS"}]}`},
		{`{"registration_token":{"token":"t","product":"p"},"token_ttl":"1h"}`, `{"registration_token":{"product":"p","token":"HIDDEN_DUE_TO_SECURITY_REASONS"},"token_ttl":"1h"}`},
		{`{"NextToken":"page-2","Secret-Access-Key":"x","n":12345678901234567890}`, `{"NextToken":"page-2","Secret-Access-Key":"HIDDEN_DUE_TO_SECURITY_REASONS","n":12345678901234567890}`},
		{`{"token":null}`, `{"token":null}`},
		{`not json {"token":"t"}`, ``},
		{`not json`, ``},
		{`{"a":1} {"b":2}`, ``},
		// Nothing secret: kept as sent.
		{`{"ProductCode":"p", "UsageRecords":[{"Quantity":1}]}`, `{"ProductCode":"p", "UsageRecords":[{"Quantity":1}]}`},
		// Names spelled with escapes, in another case or with separators
		// are still found.
		{`{"\u0054oken":"t"}`, `{"Token":"HIDDEN_DUE_TO_SECURITY_REASONS"}`},
		{`{"PassWord":"p"}`, `{"PassWord":"HIDDEN_DUE_TO_SECURITY_REASONS"}`},
		{`{"private-key_pem":"k"}`, `{"private-key_pem":"HIDDEN_DUE_TO_SECURITY_REASONS"}`},
		{``, ``},
	}
	for _, tt := range tests {
		if got := string(audit.RedactJSON([]byte(tt.in))); got != tt.want {
			t.Errorf("RedactJSON(%s) = %s, want %s", tt.in, got, tt.want)
		}
		if !json.Valid([]byte(tt.in)) {
			continue // RedactValidJSON's caller has checked that
		}
		if got := string(audit.RedactValidJSON([]byte(tt.in))); got != tt.want {
			t.Errorf("RedactValidJSON(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
	big := `{"x":"` + strings.Repeat("a", audit.MaxElementBytes) + `"}`
	var note map[string]any
	if err := json.Unmarshal(audit.RedactJSON([]byte(big)), &note); err != nil || note["omitted"] == nil {
		t.Errorf("a large element became %v (%v)", note, err)
	}
}

func TestExplain(t *testing.T) {
	hour := time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)
	recs := []metering.Record{
		{ID: "rec-mu", Operation: "MeterUsage", Dimension: "hours", Quantity: 3, Identity: metering.IdentityWorkload, CreatedAt: hour},
		{ID: "rec-bm", Operation: "BatchMeterUsage", Dimension: "users", Quantity: 7, Identity: metering.IdentityProduct, CreatedAt: hour},
		{ID: "rec-lic", Operation: "BatchMeterUsage", Dimension: "users", Quantity: 9, Identity: metering.IdentityLicense, CreatedAt: hour},
	}
	as := []audit.Attempt{
		{Status: audit.StatusDuplicateRequest, RecordID: "rec-mu", Dimension: "hours", Quantity: 4, Reason: "before"},
		{Status: audit.StatusDuplicateRecord, Dimension: "users", Quantity: 7, Reason: "before"},
		{Status: audit.StatusDuplicateRecord, Dimension: "users", ByLicense: true, Quantity: 1, Reason: "before"},
		{Status: audit.StatusDuplicateRecord, Dimension: "gb", Quantity: 1, Reason: "before"},
		{Status: "CustomerNotSubscribed", Dimension: "users", Reason: "before"},
	}
	audit.Explain(recs, as)
	for i, want := range []string{
		"duplicate of record rec-mu with quantity 3 (this attempt sent quantity 4)",
		"duplicate of record rec-bm with quantity 7 (same quantity, different usage allocations)",
		"duplicate of record rec-lic with quantity 9 (this attempt sent quantity 1)",
		"before",
		"before",
	} {
		if !strings.HasPrefix(as[i].Reason, want) {
			t.Errorf("attempt %d: reason %q, want %q", i, as[i].Reason, want)
		}
	}
}

// FuzzRedactJSON checks that no document, however its names are spelled,
// comes out of RedactJSON with a secret member's value in it: the fast path
// that keeps a document as sent must only take documents without one.
func FuzzRedactJSON(f *testing.F) {
	for _, s := range []string{
		`{"RegistrationToken":"abc"}`, `{"access_keys":[{"id":"AKIA1","secret":"s3cr3t"}]}`,
		`{"\u0054oken":"t"}`, `{"Pass_Word":"p"}`, `{"ProductCode":"p","UsageRecords":[{"Quantity":1}]}`,
		`{"a":{"b":[{"PRIVATE-KEY-PEM":"k"}]}}`, `{"x":"token","token":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out := audit.RedactJSON(data)
		if out == nil {
			return
		}
		// Numbers as text: JSON allows numbers no float64 holds.
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("RedactJSON(%q) = %q, not JSON: %v", data, out, err)
		}
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, val := range x {
					switch val.(type) {
					case map[string]any, []any:
						walk(val)
					case nil:
					default:
						if audit.IsSecretName(k) && val != audit.Hidden {
							t.Fatalf("RedactJSON(%q) = %q: member %q keeps its value", data, out, k)
						}
					}
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			}
		}
		walk(v)
	})
}

// TestStoredJSON checks that an event's stored JSON reads back as the
// event, whatever its strings hold.
func TestStoredJSON(t *testing.T) {
	for _, e := range []audit.Event{
		{EventName: "MeterUsage", EventTime: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC),
			UserAgent:         `ua "requestParameters":null "responseElements":null`,
			RequestParameters: json.RawMessage(`{"ProductCode": "p",  "UsageQuantity":1}`),
			ResponseElements:  json.RawMessage(`{"MeteringRecordId":"x"}`), ErrorCode: "E", RequestID: "r"},
		{EventName: "GetUsageReport", RequestParameters: json.RawMessage(`[1,2]`)},
		{EventName: "Ping"},
	} {
		b, err := e.StoredJSON()
		if err != nil {
			t.Fatal(err)
		}
		var got audit.Event
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		want, _ := json.Marshal(e)
		again, _ := json.Marshal(got)
		if string(again) != string(want) {
			t.Errorf("stored as %s, reads back as %s, want %s", b, again, want)
		}
	}
}
