package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/meterd/meterd/internal/adminapi"
	"github.com/meterd/meterd/internal/audit"
)

var auditNow = time.Date(2026, 11, 23, 12, 30, 0, 0, time.UTC)

func requestID(t *testing.T, md middleware.Metadata) string {
	t.Helper()
	id, ok := awsmiddleware.GetRequestIDMetadata(md)
	if !ok || id == "" {
		t.Fatal("the SDK saw no request id")
	}
	return id
}

// newest returns the newest event of source, which must be the call with
// requestID: events are visible as soon as their call has returned.
func newest(t *testing.T, admin *adminapi.Client, source, requestID string) audit.Event {
	t.Helper()
	out, err := admin.AuditEvents(ctx, adminapi.AuditFilter{EventSource: source, MaxResults: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 1 || out.Events[0].RequestID != requestID {
		t.Fatalf("newest %s event is %+v, want request %s", source, out.Events, requestID)
	}
	return out.Events[0]
}

func elements(raw json.RawMessage) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func TestAuditLog(t *testing.T) {
	s := start(t, serverOpts{})
	admin := s.admin()
	buyer, seller := s.client(buyerKey), s.client(sellerKey)
	before := s.clock.Now()

	mu, err := buyer.MeterUsage(ctx, meterInput("ami-1", "hours", before, 3))
	if err != nil {
		t.Fatal(err)
	}
	ev := newest(t, admin, audit.SourceMetering, requestID(t, mu.ResultMetadata))
	if ev.EventName != "MeterUsage" || ev.AWSRegion != "us-east-1" || ev.SourceIPAddress != "127.0.0.1" ||
		!strings.Contains(ev.UserAgent, "aws-sdk-go-v2") || ev.EventID == "" || ev.ErrorCode != "" || ev.ReadOnly ||
		ev.UserIdentity != (audit.UserIdentity{Type: audit.IdentityAssumedRole, AccountID: buyerAccount, AccessKeyID: buyerKey.AccessKeyID, Resource: "i-0123456789abcdef0"}) ||
		elements(ev.RequestParameters)["ProductCode"] != "ami-1" || elements(ev.ResponseElements)["MeteringRecordId"] != aws.ToString(mu.MeteringRecordId) ||
		ev.EventTime.Before(before.Truncate(time.Millisecond)) || ev.EventTime.After(s.clock.Now()) {
		t.Errorf("MeterUsage event: %+v", ev)
	}

	// A refused call: its error code and message, no response.
	_, err = buyer.MeterUsage(ctx, meterInput("no-such-product", "hours", before, 1))
	wantCode(t, err, "InvalidProductCodeException")
	out, err := admin.AuditEvents(ctx, adminapi.AuditFilter{ErrorCode: "InvalidProductCodeException"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 1 || out.Events[0].ErrorMessage == "" || string(out.Events[0].ResponseElements) != "null" ||
		elements(out.Events[0].RequestParameters)["ProductCode"] != "no-such-product" {
		t.Errorf("error events: %+v", out.Events)
	}

	// ResolveCustomer carries a registration token: hidden.
	rc, err := seller.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg+token/legacy==")})
	if err != nil {
		t.Fatal(err)
	}
	ev = newest(t, admin, audit.SourceMetering, requestID(t, rc.ResultMetadata))
	if elements(ev.RequestParameters)["RegistrationToken"] != audit.Hidden || !ev.ReadOnly ||
		elements(ev.ResponseElements)["CustomerIdentifier"] != "cust-1" {
		t.Errorf("ResolveCustomer event: %+v", ev)
	}

	bm, err := seller.BatchMeterUsage(ctx, batch("saas-both", usage(before, "users", 2, ident("cust-1"))))
	if err != nil {
		t.Fatal(err)
	}
	ev = newest(t, admin, audit.SourceMetering, requestID(t, bm.ResultMetadata))
	if ev.EventName != "BatchMeterUsage" || ev.UserIdentity.Type != audit.IdentityIAMUser || ev.UserIdentity.AccountID != sellerAccount {
		t.Errorf("BatchMeterUsage event: %+v", ev)
	}

	// Admin calls are events too, with secrets hidden.
	if _, err := admin.PutAccount(ctx, adminapi.Account{ID: "121212121212", AccessKeys: []adminapi.AccessKey{{ID: "AKIAAUDITNEW0000001", Secret: "admin-put-secret"}}}); err != nil {
		t.Fatal(err)
	}
	out, err = admin.AuditEvents(ctx, adminapi.AuditFilter{EventSource: audit.SourceAdmin, EventName: "PutAccount"})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 1 || out.Events[0].UserIdentity.Type != audit.IdentityAdmin || out.Events[0].ResponseElements == nil {
		t.Errorf("PutAccount events: %+v", out.Events)
	}
	_, err = adminapi.NewClient(s.Endpoint(), "wrong-token").Products(ctx)
	asAdminError(t, err, http.StatusUnauthorized)

	t.Run("Filters", func(t *testing.T) {
		for _, tt := range []struct {
			f    adminapi.AuditFilter
			want []string // event names, newest first
		}{
			{adminapi.AuditFilter{Account: buyerAccount}, []string{"MeterUsage", "MeterUsage"}},
			{adminapi.AuditFilter{Account: sellerAccount}, []string{"BatchMeterUsage", "ResolveCustomer"}},
			{adminapi.AuditFilter{EventName: "BatchMeterUsage"}, []string{"BatchMeterUsage"}},
			{adminapi.AuditFilter{ErrorCode: adminapi.CodeUnauthorized}, []string{"ListProducts"}},
			{adminapi.AuditFilter{EventSource: audit.SourceMetering, StartTime: s.clock.Now().Add(time.Second)}, nil},
			{adminapi.AuditFilter{EventSource: audit.SourceMetering, EndTime: s.clock.Now(), MaxResults: 2}, []string{"BatchMeterUsage", "ResolveCustomer"}},
			{adminapi.AuditFilter{EventSource: audit.SourceMetering, EndTime: before.Add(-time.Second)}, nil},
		} {
			out, err := admin.AuditEvents(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range out.Events {
				names = append(names, e.EventName)
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Errorf("%+v: %v, want %v", tt.f, names, tt.want)
			}
		}
	})

	t.Run("NoSecrets", func(t *testing.T) {
		// Every event, read raw, every page.
		var all strings.Builder
		next := ""
		for {
			url := s.Endpoint() + "/admin/v1/audit/events?max_results=5"
			if next != "" {
				url += "&next_token=" + next
			}
			status, body := adminGet(t, url, "Bearer "+s.AdminToken)
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			all.WriteString(body)
			var page struct{ NextToken string }
			if err := json.Unmarshal([]byte(body), &page); err != nil {
				t.Fatal(err)
			}
			if next = page.NextToken; next == "" {
				break
			}
		}
		text := all.String()
		if !strings.Contains(text, `"PutAccount"`) || !strings.Contains(text, `"ResolveCustomer"`) {
			t.Fatal("the events read are not all of them")
		}
		for _, secret := range append(stateSecrets, "reg+token/legacy==", "admin-put-secret", s.AdminToken, "wrong-token") {
			if strings.Contains(text, secret) {
				t.Errorf("secret %q is in the audit log", secret)
			}
		}
	})
}

// TestEventStream follows the live tail while calls happen.
func TestEventStream(t *testing.T) {
	s := start(t, serverOpts{})
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	events := make(chan audit.Event, 64)
	done := make(chan error, 1)
	go func() {
		done <- s.admin().StreamEvents(sctx, adminapi.AuditFilter{EventSource: audit.SourceMetering}, func(ev audit.Event) error {
			events <- ev
			return nil
		})
	}()
	// The stream is open once the admin API has recorded it.
	for {
		out, err := s.admin().AuditEvents(ctx, adminapi.AuditFilter{EventName: "StreamEvents"})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Events) > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu, err := s.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "hours", s.clock.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "nope", s.clock.Now(), 1))
	wantCode(t, err, "InvalidUsageDimensionException")
	for i, want := range []string{requestID(t, mu.ResultMetadata), ""} {
		select {
		case ev := <-events:
			if ev.EventName != "MeterUsage" || (want != "" && ev.RequestID != want) || (i == 1 && ev.ErrorCode != "InvalidUsageDimensionException") {
				t.Errorf("streamed event %d: %+v", i, ev)
			}
		case <-sctx.Done():
			t.Fatal("no event streamed")
		}
	}
	// The raw stream is text/event-stream with one data line per event.
	req, _ := http.NewRequestWithContext(sctx, "GET", s.Endpoint()+"/admin/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+s.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	buf := make([]byte, 4096)
	n, _ := io.ReadAtLeast(resp.Body, buf, 10)
	resp.Body.Close()
	if !strings.HasPrefix(string(buf[:n]), ": ") {
		t.Errorf("stream starts %q", buf[:n])
	}
	// Closing meterd ends the streams promptly.
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited on the open stream")
	}
	if err := <-done; err != nil && sctx.Err() == nil {
		t.Logf("stream ended with %v", err)
	}
}

func TestRecordDebugger(t *testing.T) {
	s := start(t, serverOpts{})
	s.clock.Freeze(auditNow)
	admin := s.admin()
	buyer, seller := s.client(buyerKey), s.client(sellerKey)
	hour := auditNow.Add(-time.Hour).Truncate(time.Hour) // 11:00

	first, err := buyer.MeterUsage(ctx, meterInput("ami-1", "hours", hour.Add(5*time.Minute), 5))
	if err != nil {
		t.Fatal(err)
	}
	_, err = buyer.MeterUsage(ctx, meterInput("ami-1", "hours", hour.Add(40*time.Minute), 7))
	wantCode(t, err, "DuplicateRequestException")
	old := auditNow.Add(-8 * time.Hour) // 04:30, two hours before the 6-hour window
	_, err = buyer.MeterUsage(ctx, meterInput("ami-1", "hours", old, 1))
	wantCode(t, err, "TimestampOutOfBoundsException")

	if _, err := seller.BatchMeterUsage(ctx, batch("saas-both", usage(hour, "users", 3, ident("cust-1")))); err != nil {
		t.Fatal(err)
	}
	out, err := seller.BatchMeterUsage(ctx, batch("saas-both",
		usage(hour.Add(time.Minute), "users", 4, ident("cust-1")),
		usage(hour, "users", 1, ident("cust-2")),
	))
	if err != nil {
		t.Fatal(err)
	}
	if st := resultStatuses(out); st[0] != types.UsageRecordResultStatusDuplicateRecord || st[1] != types.UsageRecordResultStatusCustomerNotSubscribed {
		t.Fatalf("statuses %v", st)
	}

	t.Run("MeterUsageDuplicate", func(t *testing.T) {
		d, err := admin.DebugRecords(ctx, "ami-1", buyerAccount, hour.Add(30*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Records) != 1 || d.Records[0].ID != aws.ToString(first.MeteringRecordId) || d.Records[0].Quantity != 5 {
			t.Fatalf("records %+v", d.Records)
		}
		if len(d.Attempts) != 1 {
			t.Fatalf("attempts %+v", d.Attempts)
		}
		a := d.Attempts[0]
		want := "duplicate of record " + d.Records[0].ID + " with quantity 5 (this attempt sent quantity 7)"
		if a.Status != "DuplicateRequestException" || !strings.HasPrefix(a.Reason, want) || a.RecordID != d.Records[0].ID ||
			a.Operation != "MeterUsage" || a.Quantity != 7 || a.Dimension != "hours" || a.RequestID == "" {
			t.Errorf("attempt %+v\nwant reason %q", a, want)
		}
	})

	t.Run("OutsideTheWindow", func(t *testing.T) {
		d, err := admin.DebugRecords(ctx, "ami-1", buyerAccount, old)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Records) != 0 || len(d.Attempts) != 1 {
			t.Fatalf("%+v", d)
		}
		want := "outside the 6h0m0s window by 2h0m0s (timestamp 2026-11-23T04:30:00Z, server time 2026-11-23T12:30:00Z)"
		if a := d.Attempts[0]; a.Status != "TimestampOutOfBoundsException" || a.Reason != want {
			t.Errorf("attempt %+v\nwant reason %q", a, want)
		}
	})

	t.Run("BatchDuplicate", func(t *testing.T) {
		d, err := admin.DebugRecords(ctx, "saas-both", "cust-1", hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Records) != 1 || len(d.Attempts) != 1 {
			t.Fatalf("%+v", d)
		}
		want := "duplicate of record " + d.Records[0].ID + " with quantity 3 (this attempt sent quantity 4)"
		if a := d.Attempts[0]; a.Status != "DuplicateRecord" || !strings.HasPrefix(a.Reason, want) || a.Index != 1 {
			t.Errorf("attempt %+v\nwant reason %q", a, want)
		}
	})

	t.Run("NotSubscribed", func(t *testing.T) {
		d, err := admin.DebugRecords(ctx, "saas-both", "777788889999", hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Records) != 0 || len(d.Attempts) != 1 {
			t.Fatalf("%+v", d)
		}
		if a := d.Attempts[0]; a.Status != "CustomerNotSubscribed" || !strings.HasPrefix(a.Reason, "not subscribed") || a.Index != 2 || a.CustomerIdentifier != "cust-2" {
			t.Errorf("attempt %+v", a)
		}
	})
}
