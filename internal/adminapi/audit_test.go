package adminapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/adminapi"
	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metering/meteringtest"
	"github.com/meterd/meterd/internal/reports"
)

type visFixture struct {
	store  *meteringtest.MemStore
	log    *audit.Log
	srv    *httptest.Server
	client *adminapi.Client
}

var visNow = time.Date(2026, 11, 23, 12, 30, 0, 0, time.UTC)

// newVisFixture serves the admin API with reports over a MemStore's usage
// summary and an audit log in memory.
func newVisFixture(t *testing.T) *visFixture {
	t.Helper()
	clock := metering.ClockFunc(func() time.Time { return visNow })
	store := meteringtest.NewMemStore()
	svc, err := metering.NewService(t.Context(), metering.Options{Store: store, Clock: clock}, metering.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = svc.ApplyState(t.Context(), metering.State{
		Accounts: []metering.Account{{ID: "111122223333", AccessKeys: []metering.AccessKey{{ID: "AKIASELLER", Secret: "seller-secret"}}}},
		Products: []metering.Product{{Code: "saas-1", Seller: "111122223333", Type: metering.ProductSaaS, Dimensions: []string{"users"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	log := audit.Start(audit.NewMemStore(0), audit.Options{Now: clock.Now, FlushInterval: time.Hour})
	t.Cleanup(func() { log.Close() })
	s := adminapi.New(adminapi.Options{Service: svc, TokenHash: adminapi.HashToken(token), Clock: clock,
		Visibility: adminapi.Visibility{Reports: reports.New(reports.Summaries{Store: store}), Audit: log}})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &visFixture{store: store, log: log, srv: srv, client: adminapi.NewClient(srv.URL, token)}
}

func (f *visFixture) events(t *testing.T, filter adminapi.AuditFilter) []audit.Event {
	t.Helper()
	out, err := f.client.AuditEvents(t.Context(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return out.Events
}

// TestAdminCallsAudited checks one event per admin call, with the
// handler's name, the error of a refused call and secrets hidden.
func TestAdminCallsAudited(t *testing.T) {
	f := newVisFixture(t)
	ctx := t.Context()
	if _, err := f.client.PutAccount(ctx, adminapi.Account{ID: "444455556666", AccessKeys: []adminapi.AccessKey{{ID: "AKIANEW", Secret: "very-secret-value"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.Product(ctx, "nope"); err == nil {
		t.Fatal("no error for a missing product")
	}
	if _, err := adminapi.NewClient(f.srv.URL, "wrong").Products(ctx); err == nil {
		t.Fatal("no error for a wrong token")
	}
	evs := f.events(t, adminapi.AuditFilter{})
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3 (the lookup itself is recorded after it answers)", len(evs))
	}
	unauthorized, missing, put := evs[0], evs[1], evs[2]
	all, _ := json.Marshal(evs)
	if strings.Contains(string(all), "very-secret-value") || strings.Contains(string(all), token) {
		t.Errorf("a secret is in the events: %s", all)
	}
	if put.EventName != "PutAccount" || put.EventSource != audit.SourceAdmin || put.ReadOnly || put.ErrorCode != "" ||
		put.UserIdentity.Type != audit.IdentityAdmin || !strings.Contains(compact(put.RequestParameters), `"id":"444455556666"`) ||
		!strings.Contains(compact(put.RequestParameters), audit.Hidden) || compact(put.ResponseElements) == "null" || put.RequestID == "" {
		t.Errorf("put event: %+v", put)
	}
	if missing.EventName != "GetProduct" || missing.ErrorCode != adminapi.CodeNotFound || !missing.ReadOnly ||
		compact(missing.ResponseElements) != "null" || compact(missing.RequestParameters) != `{"code":"nope"}` {
		t.Errorf("missing product event: %+v", missing)
	}
	if unauthorized.ErrorCode != adminapi.CodeUnauthorized || unauthorized.UserIdentity.Type != audit.IdentityUnknown {
		t.Errorf("unauthorized event: %+v", unauthorized)
	}
	// The lookups above are events too, and filters find them.
	if got := f.events(t, adminapi.AuditFilter{EventName: "LookupEvents"}); len(got) != 1 {
		t.Errorf("%d LookupEvents events, want 1", len(got))
	}
	if got := f.events(t, adminapi.AuditFilter{ErrorCode: adminapi.CodeNotFound, EventSource: audit.SourceAdmin}); len(got) != 1 || got[0].EventName != "GetProduct" {
		t.Errorf("by error code: %+v", got)
	}
}

func TestAuditLookupErrors(t *testing.T) {
	f := newVisFixture(t)
	for _, q := range []string{"max_results=0", "max_results=51", "start_time=yesterday", "next_token=bogus",
		"start_time=2026-11-23T10:00:00Z&end_time=2026-11-23T09:00:00Z"} {
		status, body := get(t, f.srv.URL+adminapi.Prefix+"/audit/events?"+q)
		if status != http.StatusBadRequest || !strings.Contains(body, `"validation"`) {
			t.Errorf("%s: %d %s", q, status, body)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func TestUsageReportRoute(t *testing.T) {
	f := newVisFixture(t)
	hour := time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)
	_, err := f.store.PutRecords(t.Context(), []metering.Record{
		{ID: "1", Key: "1", ProductCode: "saas-1", CustomerAccountID: "444455556666", Dimension: "users", Timestamp: hour, Quantity: 3},
		{ID: "2", Key: "2", ProductCode: "saas-1", CustomerAccountID: "444455556666", Dimension: "users", Timestamp: hour.Add(time.Hour), Quantity: 4},
		{ID: "3", Key: "3", ProductCode: "saas-1", CustomerAccountID: "777788889999", Dimension: "users", Timestamp: hour.Add(time.Hour), Quantity: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	q := adminapi.UsageQuery{From: hour, To: hour.Add(24 * time.Hour), Window: "day", TZ: "America/New_York", GroupBy: []string{"customer"}}
	rep, err := f.client.UsageReport(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Window != "day" || rep.TZ != "America/New_York" || len(rep.Rows) != 2 {
		t.Fatalf("report %+v", rep)
	}
	r := rep.Rows[0]
	if r.WindowStart.Format(time.RFC3339) != "2026-11-23T00:00:00-05:00" || r.Customer == nil || *r.Customer != "444455556666" ||
		r.Quantity != 7 || r.Records != 2 || r.ProductCode != nil || r.Dimension != nil {
		t.Errorf("row %+v", r)
	}
	data, err := f.client.UsageReportCSV(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"window_start", "customer", "quantity", "records"},
		{"2026-11-23T00:00:00-05:00", "444455556666", "7", "2"},
		{"2026-11-23T00:00:00-05:00", "777788889999", "5", "1"},
	}
	if got, _ := json.Marshal(recs); string(got) != asJSON(want) {
		t.Errorf("CSV %s", data)
	}
	// Defaults: the day up to the end of the current hour, UTC.
	rep, err = f.client.UsageReport(t.Context(), adminapi.UsageQuery{})
	if err != nil || rep.Window != "hour" || rep.TZ != "UTC" || !rep.To.Equal(visNow.Truncate(time.Hour).Add(time.Hour)) || len(rep.Rows) != 2 {
		t.Errorf("default report %+v, %v", rep, err)
	}
	for _, bad := range []string{"window=week", "tz=Mars/Olympus", "tz=Local", "group_by=customer,week", "from=monday",
		"format=xml", "from=2026-11-23T00:00:00Z&to=2026-11-22T00:00:00Z", "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z"} {
		status, body := get(t, f.srv.URL+adminapi.Prefix+"/reports/usage?"+bad)
		if status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, status, body)
		}
	}
	// A store without tag rollups says so.
	var e *adminapi.Error
	if _, err := f.client.UsageReport(t.Context(), adminapi.UsageQuery{GroupBy: []string{"tag"}}); !errors.As(err, &e) || e.Status != http.StatusBadRequest {
		t.Errorf("tags from summaries: %v", err)
	}
}

// compact is an element as compact JSON; "null" for none.
func compact(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDebugRecordsRoute(t *testing.T) {
	f := newVisFixture(t)
	for _, q := range []string{"", "product=saas-1", "product=saas-1&customer=c", "product=saas-1&customer=c&hour=noon"} {
		if status, body := get(t, f.srv.URL+adminapi.Prefix+"/debug/records?"+q); status != http.StatusBadRequest {
			t.Errorf("%q: %d %s", q, status, body)
		}
	}
	hour := time.Date(2026, 11, 23, 5, 0, 0, 0, time.UTC)
	f.log.Record(audit.Event{EventTime: visNow}, []audit.Attempt{{Time: visNow, ProductCode: "saas-1", CustomerAccountID: "444455556666", Hour: hour, Status: "CustomerNotSubscribed", Reason: "not subscribed"}})
	out, err := f.client.DebugRecords(t.Context(), "saas-1", "444455556666", hour.Add(20*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !out.Hour.Equal(hour) || len(out.Records) != 0 || len(out.Attempts) != 1 || out.Attempts[0].Reason != "not subscribed" {
		t.Errorf("debug %+v", out)
	}
}

// TestStream checks the live tail: the stream's own call, then every call
// after it, as server-sent events.
func TestStream(t *testing.T) {
	f := newVisFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got := make(chan audit.Event, 16)
	done := make(chan error, 1)
	go func() {
		done <- f.client.StreamEvents(ctx, adminapi.AuditFilter{EventSource: audit.SourceAdmin}, func(ev audit.Event) error {
			got <- ev
			return nil
		})
	}()
	first := <-got
	if first.EventName != "StreamEvents" {
		t.Fatalf("first event %s, want the stream's own", first.EventName)
	}
	if _, err := f.client.Products(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := <-got; ev.EventName != "ListProducts" {
		t.Errorf("streamed %s, want ListProducts", ev.EventName)
	}
	// Ending the streams (as a shutdown does) ends the client's call.
	f.log.CloseStreams()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("stream ended with %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the stream did not end")
	}
}
