// Package audittest is the conformance suite of audit.Store: every store
// that keeps the audit log runs it.
package audittest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/audit"
)

// T0 is the time the suite's events start at.
var T0 = time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)

// Event returns the suite's event i: a second apart from T0, every third
// a failure, accounts and names alternating.
func Event(i int) audit.Event {
	e := audit.Event{
		EventVersion:      audit.EventVersion,
		EventTime:         T0.Add(time.Duration(i) * time.Second),
		EventSource:       audit.SourceMetering,
		EventName:         []string{"MeterUsage", "BatchMeterUsage"}[i%2],
		AWSRegion:         "us-east-1",
		SourceIPAddress:   "127.0.0.1",
		UserAgent:         "test",
		UserIdentity:      audit.UserIdentity{Type: audit.IdentityIAMUser, AccountID: []string{"111111111111", "222222222222", "333333333333"}[i%3], AccessKeyID: fmt.Sprint("AKIA", i%4)},
		RequestParameters: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i)),
		RequestID:         fmt.Sprint("req-", i),
		EventID:           fmt.Sprint("ev-", i),
		EventType:         audit.TypeAPICall,
	}
	if i%3 == 0 {
		e.ErrorCode, e.ErrorMessage = "ThrottlingException", "slow down"
	} else {
		e.ResponseElements = json.RawMessage(`{"ok":true}`)
	}
	return e
}

// RunStoreTests runs the suite against stores from open, a new empty one
// per test.
func RunStoreTests(t *testing.T, open func(t *testing.T) audit.Store) {
	t.Run("LookupPages", func(t *testing.T) { lookupPages(t, open(t)) })
	t.Run("LookupFilters", func(t *testing.T) { lookupFilters(t, open(t)) })
	t.Run("SameMillisecond", func(t *testing.T) { sameMillisecond(t, open(t)) })
	t.Run("Attempts", func(t *testing.T) { attempts(t, open(t)) })
	t.Run("Prune", func(t *testing.T) { prune(t, open(t)) })
}

func appendEvents(t *testing.T, s audit.Store, n int) {
	t.Helper()
	var evs []audit.Event
	for i := range n {
		evs = append(evs, Event(i))
	}
	if err := s.AppendAudit(t.Context(), evs, nil); err != nil {
		t.Fatal(err)
	}
}

// lookupAll follows NextToken to the end and returns the request ids.
func lookupAll(t *testing.T, s audit.Store, f audit.Filter) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("NextToken does not end")
		}
		if err := f.Normalize(); err != nil {
			t.Fatal(err)
		}
		p, err := s.LookupEvents(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) > f.MaxResults {
			t.Fatalf("a page of %d events, max %d", len(p.Events), f.MaxResults)
		}
		for _, e := range p.Events {
			ids = append(ids, e.RequestID)
		}
		if p.NextToken == "" {
			return ids
		}
		f.NextToken = p.NextToken
	}
}

func want(n int, keep func(i int) bool) []string {
	var ids []string
	for i := n - 1; i >= 0; i-- {
		if keep(i) {
			ids = append(ids, fmt.Sprint("req-", i))
		}
	}
	return ids
}

func same(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func lookupPages(t *testing.T, s audit.Store) {
	appendEvents(t, s, 120)
	f := audit.Filter{}
	if err := f.Normalize(); err != nil {
		t.Fatal(err)
	}
	p, err := s.LookupEvents(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != audit.MaxResults || p.NextToken == "" || p.Events[0].RequestID != "req-119" {
		t.Fatalf("first page: %d events from %s, token %q", len(p.Events), p.Events[0].RequestID, p.NextToken)
	}
	// The event reads back whole.
	got, _ := json.Marshal(p.Events[0])
	wantEv := Event(119)
	wantJSON, _ := json.Marshal(wantEv)
	if string(got) != string(wantJSON) {
		t.Errorf("event read back as\n%s\nwant\n%s", got, wantJSON)
	}
	all := lookupAll(t, s, audit.Filter{MaxResults: 7})
	if w := want(120, func(int) bool { return true }); !same(all, w) {
		t.Errorf("pages of 7 gave %d events %v..., want %d", len(all), all[:min(3, len(all))], len(w))
	}
}

func lookupFilters(t *testing.T, s audit.Store) {
	appendEvents(t, s, 60)
	tests := []struct {
		name string
		f    audit.Filter
		keep func(i int) bool
	}{
		{"event name", audit.Filter{EventName: "BatchMeterUsage"}, func(i int) bool { return i%2 == 1 }},
		{"account", audit.Filter{Account: "222222222222"}, func(i int) bool { return i%3 == 1 }},
		{"access key", audit.Filter{AccessKeyID: "AKIA2"}, func(i int) bool { return i%4 == 2 }},
		{"error code", audit.Filter{ErrorCode: "ThrottlingException"}, func(i int) bool { return i%3 == 0 }},
		{"source", audit.Filter{EventSource: audit.SourceAdmin}, func(int) bool { return false }},
		{"time range, inclusive", audit.Filter{StartTime: T0.Add(10 * time.Second), EndTime: T0.Add(20 * time.Second)},
			func(i int) bool { return i >= 10 && i <= 20 }},
		{"all together", audit.Filter{EventName: "MeterUsage", ErrorCode: "ThrottlingException", StartTime: T0.Add(30 * time.Second), MaxResults: 2},
			func(i int) bool { return i%2 == 0 && i%3 == 0 && i >= 30 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, w := lookupAll(t, s, tt.f), want(60, tt.keep); !same(got, w) {
				t.Errorf("got %v\nwant %v", got, w)
			}
		})
	}
}

// sameMillisecond checks that events of one millisecond keep the order
// they were stored in, also across pages.
func sameMillisecond(t *testing.T, s audit.Store) {
	var evs []audit.Event
	for i := range 5 {
		e := Event(i)
		e.EventTime = T0
		evs = append(evs, e)
	}
	if err := s.AppendAudit(t.Context(), evs[:2], nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(t.Context(), evs[2:], nil); err != nil {
		t.Fatal(err)
	}
	if got, w := lookupAll(t, s, audit.Filter{MaxResults: 2}), want(5, func(int) bool { return true }); !same(got, w) {
		t.Errorf("got %v, want %v", got, w)
	}
}

func attempts(t *testing.T, s audit.Store) {
	hour := T0.Truncate(time.Hour)
	mk := func(i int, product, account, identifier, license string, h time.Time) audit.Attempt {
		return audit.Attempt{
			Time: T0.Add(time.Duration(i) * time.Minute), Operation: "BatchMeterUsage", RequestID: fmt.Sprint("req-", i), Index: i + 1,
			ProductCode: product, CustomerAccountID: account, CustomerIdentifier: identifier, LicenseArn: license,
			Dimension: "users", Quantity: int64(i), Timestamp: h.Add(5 * time.Minute), Hour: h,
			Status: "DuplicateRecord", Reason: "duplicate",
		}
	}
	as := []audit.Attempt{
		mk(0, "p1", "111111111111", "cust-1", "", hour),
		mk(1, "p1", "111111111111", "cust-1", "arn:l-1", hour),
		mk(2, "p2", "111111111111", "cust-1", "", hour),
		mk(3, "p1", "222222222222", "", "", hour),
		mk(4, "p1", "111111111111", "cust-1", "", hour.Add(time.Hour)),
	}
	if err := s.AppendAudit(t.Context(), nil, as); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		customer string
		want     []int
	}{
		{"111111111111", []int{0, 1}},
		{"cust-1", []int{0, 1}},
		{"arn:l-1", []int{1}},
		{"222222222222", []int{3}},
		{"", nil},
	} {
		got, err := s.Attempts(t.Context(), audit.AttemptFilter{ProductCode: "p1", Customer: tt.customer, Hour: hour, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		var idx []int
		for _, a := range got {
			idx = append(idx, a.Index-1)
		}
		if fmt.Sprint(idx) != fmt.Sprint(tt.want) {
			t.Errorf("customer %q: attempts %v, want %v", tt.customer, idx, tt.want)
		}
		if len(got) > 0 {
			w := as[tt.want[0]]
			g := got[0]
			if !g.Time.Equal(w.Time) || !g.Hour.Equal(w.Hour) || !g.Timestamp.Equal(w.Timestamp) || g.Reason != w.Reason || g.Quantity != w.Quantity || g.ByLicense != w.ByLicense {
				t.Errorf("attempt read back as %+v, want %+v", g, w)
			}
		}
	}
}

func prune(t *testing.T, s audit.Store) {
	appendEvents(t, s, 30)
	var as []audit.Attempt
	for i := range 10 {
		as = append(as, audit.Attempt{Time: T0.Add(time.Duration(i) * time.Second), ProductCode: "p1", CustomerAccountID: "1", Hour: T0})
	}
	if err := s.AppendAudit(t.Context(), nil, as); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneAudit(t.Context(), T0.Add(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n != 20+10 {
		t.Errorf("pruned %d, want 30", n)
	}
	if got, w := lookupAll(t, s, audit.Filter{}), want(30, func(i int) bool { return i >= 20 }); !same(got, w) {
		t.Errorf("after pruning: %v, want %v", got, w)
	}
	left, err := s.Attempts(t.Context(), audit.AttemptFilter{ProductCode: "p1", Customer: "1", Hour: T0})
	if err != nil || len(left) != 0 {
		t.Errorf("attempts after pruning: %v, %v", left, err)
	}
}
