package audithook_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/audithook"
	"github.com/meterd/meterd/internal/awsapi"
	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metering/meteringtest"
	"github.com/meterd/meterd/internal/rpcv2"
)

var now = time.Date(2026, 11, 23, 12, 30, 0, 0, time.UTC)

const (
	seller  = "111122223333"
	buyer   = "444455556666"
	buyer2  = "777788889999"
	license = "arn:aws:license-manager::444455556666:license:l-1"
)

func setup(t *testing.T) *audithook.Hooks {
	t.Helper()
	clock := metering.ClockFunc(func() time.Time { return now })
	store := meteringtest.NewMemStore()
	svc, err := metering.NewService(t.Context(), metering.Options{Store: store, Clock: clock}, metering.Config{})
	if err != nil {
		t.Fatal(err)
	}
	st := metering.State{
		Accounts: []metering.Account{
			{ID: seller, AccessKeys: []metering.AccessKey{{ID: "AKIASELLER", Secret: "seller-secret"}}},
			{ID: buyer, AccessKeys: []metering.AccessKey{{ID: "AKIABUYER", Secret: "buyer-secret", Resource: "i-0abc"}}},
			{ID: buyer2},
		},
		Products: []metering.Product{
			{Code: "saas", Seller: seller, Type: metering.ProductSaaS, Dimensions: []string{"users"}},
			{Code: "ami", Seller: seller, Type: metering.ProductAMI, Dimensions: []string{"hours"}},
		},
		Customers: []metering.Customer{
			{Product: "saas", AccountID: buyer, CustomerIdentifier: "cust-1", LicenseArn: license, Status: metering.StatusSubscribed},
			{Product: "saas", AccountID: buyer2, CustomerIdentifier: "cust-2", Status: metering.StatusUnsubscribed, PendingUntil: now.Add(-3 * time.Hour)},
			{Product: "ami", AccountID: buyer, Status: metering.StatusSubscribed},
		},
	}
	if err := svc.ApplyState(t.Context(), st); err != nil {
		t.Fatal(err)
	}
	log := audit.Start(audit.NewMemStore(0), audit.Options{Now: clock.Now, FlushInterval: time.Hour})
	t.Cleanup(func() { log.Close() })
	return audithook.New(audithook.Options{Log: log, Service: svc, Clock: clock})
}

func call(op, body string) *awsapi.Call {
	prefix := awsapi.MeteringPrefix
	if op == "GetEntitlements" {
		prefix = awsapi.EntitlementPrefix
	}
	return &awsapi.Call{
		RequestID: "req-1", Operation: op, Target: prefix + op, Protocol: "awsJson1_1",
		SourceIP: "127.0.0.1", UserAgent: "aws-sdk-go-v2/1.0", Region: "us-east-1",
		Body: []byte(body), Status: 200, Duration: 2 * time.Millisecond,
	}
}

func as(c *awsapi.Call, key, account string) *awsapi.Call {
	c.AccessKeyID, c.AccountID = key, account
	return c
}

func failed(c *awsapi.Call, code, message string) *awsapi.Call {
	c.Status, c.ErrorCode, c.ErrorMessage = 400, code, message
	return c
}

func ts(t time.Time) string { return `"` + t.Format(time.RFC3339) + `"` }

func TestMeterUsageAttempts(t *testing.T) {
	h := setup(t)
	tests := []struct {
		name     string
		call     *awsapi.Call
		status   string
		reason   string
		recordID string
		hour     time.Time
	}{
		{
			name: "outside the window",
			call: failed(as(call("MeterUsage", `{"ProductCode":"ami","Timestamp":`+ts(now.Add(-8*time.Hour-30*time.Second))+`,"UsageDimension":"hours","UsageQuantity":3}`), "AKIABUYER", buyer),
				"TimestampOutOfBoundsException", "Timestamp ... is more than 6h0m0s in the past"),
			status: "TimestampOutOfBoundsException",
			reason: "outside the 6h0m0s window by 2h0m30s (timestamp 2026-11-23T04:29:30Z, server time 2026-11-23T12:30:00Z)",
			hour:   time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC),
		},
		{
			name: "in the future",
			call: failed(as(call("MeterUsage", `{"ProductCode":"ami","Timestamp":`+ts(now.Add(10*time.Minute))+`,"UsageDimension":"hours"}`), "AKIABUYER", buyer),
				"TimestampOutOfBoundsException", "in the future"),
			status: "TimestampOutOfBoundsException",
			reason: "in the future by 10m0s (timestamp 2026-11-23T12:40:00Z, server time 2026-11-23T12:30:00Z; 5m0s of clock skew allowed)",
			hour:   time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		},
		{
			name: "duplicate",
			call: failed(as(call("MeterUsage", `{"ProductCode":"ami","Timestamp":`+ts(now)+`,"UsageDimension":"hours","UsageQuantity":4}`), "AKIABUYER", buyer),
				"DuplicateRequestException", "Usage for dimension 'hours' of product ami in hour 2026-11-23T12:00:00Z was already metered with a different quantity or allocation (record rec-42)."),
			status:   "DuplicateRequestException",
			reason:   "duplicate of record rec-42 with a different quantity or allocation",
			recordID: "rec-42",
			hour:     time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		},
		{
			name: "not entitled",
			call: failed(as(call("MeterUsage", `{"ProductCode":"saas","Timestamp":`+ts(now)+`,"UsageDimension":"users"}`), "", buyer2),
				"CustomerNotEntitledException", "no active agreement"),
			status: "CustomerNotEntitledException",
			reason: "not subscribed since 2026-11-23T09:30:00Z (status unsubscribed)",
			hour:   time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.Attempts(tt.call, now, nil)
			if len(got) != 1 {
				t.Fatalf("%d attempts", len(got))
			}
			a := got[0]
			if a.Status != tt.status || a.Reason != tt.reason || a.RecordID != tt.recordID || !a.Hour.Equal(tt.hour) {
				t.Errorf("attempt %+v\nwant status %s, reason %q, record %q, hour %s", a, tt.status, tt.reason, tt.recordID, tt.hour)
			}
			if a.Operation != "MeterUsage" || a.RequestID != "req-1" || a.ProductCode == "" || a.CustomerAccountID == "" {
				t.Errorf("attempt %+v lacks its call", a)
			}
		})
	}
	if got := h.Attempts(as(call("MeterUsage", `{"ProductCode":"ami"}`), "AKIABUYER", buyer), now, nil); got != nil {
		t.Errorf("a successful call made attempts %+v", got)
	}
}

func TestBatchAttempts(t *testing.T) {
	h := setup(t)
	body := `{"ProductCode":"saas","UsageRecords":[
		{"Timestamp":` + ts(now) + `,"CustomerIdentifier":"cust-1","Dimension":"users","Quantity":5},
		{"Timestamp":` + ts(now.Add(-30*time.Hour)) + `,"CustomerIdentifier":"cust-2","Dimension":"users","Quantity":6},
		{"Timestamp":` + ts(now) + `,"CustomerAWSAccountId":"` + buyer2 + `","Dimension":"users","Quantity":7}]}`

	// The whole call refused because of its second record.
	c := failed(as(call("BatchMeterUsage", body), "AKIASELLER", seller), "TimestampOutOfBoundsException",
		"Usage record 2: Timestamp 2026-11-22T06:30:00Z is more than 24h0m0s in the past (now 2026-11-23T12:30:00Z).")
	got := h.Attempts(c, now, nil)
	if len(got) != 3 {
		t.Fatalf("%d attempts, want 3", len(got))
	}
	want := []string{
		"refused with its batch because of usage record 2: Timestamp",
		"outside the 24h0m0s window by 6h0m0s",
		"refused with its batch because of usage record 2",
	}
	for i, a := range got {
		if a.Index != i+1 || !strings.HasPrefix(a.Reason, want[i]) || a.Status != "TimestampOutOfBoundsException" {
			t.Errorf("attempt %d: %+v, want reason %q", i+1, a, want[i])
		}
	}
	if got[0].CustomerAccountID != buyer || got[0].LicenseArn != license || got[1].CustomerAccountID != buyer2 {
		t.Errorf("customers not completed from the catalog: %+v", got)
	}

	// Per-record statuses of a call that succeeded.
	c = as(call("BatchMeterUsage", body), "AKIASELLER", seller)
	resp := `{"Results":[
		{"UsageRecord":{"Timestamp":` + ts(now) + `,"CustomerIdentifier":"cust-1","Dimension":"users","Quantity":5},"Status":"DuplicateRecord"},
		{"UsageRecord":{"Timestamp":` + ts(now) + `,"CustomerAWSAccountId":"` + buyer2 + `","Dimension":"users","Quantity":7},"Status":"CustomerNotSubscribed"}],
		"UnprocessedRecords":[{"Timestamp":` + ts(now.Add(-30*time.Hour)) + `,"CustomerIdentifier":"cust-2","Dimension":"users","Quantity":6}]}`
	got = h.Attempts(c, now, []byte(resp))
	if len(got) != 3 {
		t.Fatalf("%d attempts, want 3: %+v", len(got), got)
	}
	for i, w := range []struct {
		index          int
		status, reason string
	}{
		{1, audit.StatusDuplicateRecord, "duplicate of a record already stored"},
		{3, "CustomerNotSubscribed", "not subscribed since 2026-11-23T09:30:00Z"},
		{2, audithook.StatusUnprocessed, "returned in UnprocessedRecords"},
	} {
		if a := got[i]; a.Index != w.index || a.Status != w.status || !strings.HasPrefix(a.Reason, w.reason) {
			t.Errorf("attempt %d: %+v, want index %d status %s reason %q", i, a, w.index, w.status, w.reason)
		}
	}
}

// outcomes stands for the data plane's BatchMeterUsage answer.
type outcomes struct {
	results     []awsapi.RecordOutcome
	unprocessed []int
}

func (o outcomes) Outcomes() ([]awsapi.RecordOutcome, []int) { return o.results, o.unprocessed }

func TestBatchOutcomes(t *testing.T) {
	h := setup(t)
	body := `{"ProductCode":"saas","UsageRecords":[
		{"Timestamp":` + ts(now) + `,"CustomerIdentifier":"cust-1","Dimension":"users","Quantity":5},
		{"Timestamp":` + ts(now.Add(-30*time.Hour)) + `,"CustomerIdentifier":"cust-2","Dimension":"users","Quantity":6},
		{"Timestamp":` + ts(now) + `,"CustomerAWSAccountId":"` + buyer2 + `","Dimension":"users","Quantity":7}]}`

	// Every record stored: no attempt, and the event summarises the answer.
	c := as(call("BatchMeterUsage", body), "AKIASELLER", seller)
	c.Response = outcomes{results: []awsapi.RecordOutcome{
		{Index: 0, Status: "Success", MeteringRecordID: "r-1"},
		{Index: 1, Status: "Success", MeteringRecordID: "r-2"},
		{Index: 2, Status: "Success", MeteringRecordID: "r-3"},
	}, unprocessed: []int{}}
	ev, resp := h.Event(c, now)
	if got := h.Attempts(c, now, resp); got != nil {
		t.Errorf("attempts for stored records: %+v", got)
	}
	if want := `{"Results":3,"Statuses":{"Success":3},"MeteringRecordIds":["r-1","r-2","r-3"],"UnprocessedRecords":0}`; string(ev.ResponseElements) != want {
		t.Errorf("responseElements %s, want %s", ev.ResponseElements, want)
	}
	if !strings.Contains(string(ev.RequestParameters), "cust-2") {
		t.Errorf("requestParameters %s", ev.RequestParameters)
	}

	// Record 2 unprocessed; 1 a duplicate, 3 not subscribed: only they.
	c.Response = outcomes{results: []awsapi.RecordOutcome{
		{Index: 0, Status: audit.StatusDuplicateRecord},
		{Index: 2, Status: "CustomerNotSubscribed"},
	}, unprocessed: []int{1}}
	ev, resp = h.Event(c, now)
	got := h.Attempts(c, now, resp)
	if len(got) != 3 {
		t.Fatalf("%d attempts, want 3: %+v", len(got), got)
	}
	for i, w := range []struct {
		index          int
		status, reason string
		quantity       int64
	}{
		{1, audit.StatusDuplicateRecord, "duplicate of a record already stored", 5},
		{3, "CustomerNotSubscribed", "not subscribed since 2026-11-23T09:30:00Z", 7},
		{2, audithook.StatusUnprocessed, "returned in UnprocessedRecords", 6},
	} {
		if a := got[i]; a.Index != w.index || a.Status != w.status || !strings.HasPrefix(a.Reason, w.reason) || a.Quantity != w.quantity {
			t.Errorf("attempt %d: %+v, want index %d status %s reason %q", i, a, w.index, w.status, w.reason)
		}
	}
	if want := `{"Results":2,"Statuses":{"CustomerNotSubscribed":1,"DuplicateRecord":1},"MeteringRecordIds":[],"UnprocessedRecords":1}`; string(ev.ResponseElements) != want {
		t.Errorf("responseElements %s, want %s", ev.ResponseElements, want)
	}
}

func TestEvent(t *testing.T) {
	h := setup(t)
	c := as(call("ResolveCustomer", `{"RegistrationToken":"secret-token-value"}`), "AKIASELLER", seller)
	c.Response = map[string]string{"CustomerIdentifier": "cust-1", "ProductCode": "saas"}
	ev, _ := h.Event(c, now)
	b, _ := json.Marshal(ev)
	if strings.Contains(string(b), "secret-token-value") || !strings.Contains(string(b), audit.Hidden) {
		t.Errorf("the registration token is not hidden: %s", b)
	}
	if ev.EventSource != audit.SourceMetering || ev.EventName != "ResolveCustomer" || !ev.ReadOnly ||
		ev.UserIdentity != (audit.UserIdentity{Type: audit.IdentityIAMUser, AccountID: seller, AccessKeyID: "AKIASELLER"}) ||
		!ev.EventTime.Equal(now) || string(ev.ResponseElements) != `{"CustomerIdentifier":"cust-1","ProductCode":"saas"}` {
		t.Errorf("event %s", b)
	}

	c = failed(as(call("MeterUsage", `{"ProductCode":"ami"}`), "AKIABUYER", buyer), "ValidationException", "bad")
	ev, _ = h.Event(c, now)
	if ev.UserIdentity.Type != audit.IdentityAssumedRole || ev.UserIdentity.Resource != "i-0abc" || ev.ErrorCode != "ValidationException" || ev.ResponseElements != nil || ev.ReadOnly {
		t.Errorf("workload call: %+v", ev)
	}

	c = failed(call("", "{"), "UnknownOperationException", "no")
	c.Operation, c.Target = "unknown", "AWSMPMeteringService.Drop Table;--"
	ev, _ = h.Event(c, now)
	if ev.EventName != "DropTable" || ev.UserIdentity.Type != audit.IdentityUnknown || ev.RequestParameters != nil {
		t.Errorf("unknown call: %+v", ev)
	}

	body, err := rpcv2.Marshal(struct {
		ProductCode string `json:"ProductCode"`
	}{"saas"})
	if err != nil {
		t.Fatal(err)
	}
	c = as(call("GetEntitlements", ""), "AKIASELLER", seller)
	c.Body, c.Protocol = body, "rpcv2Cbor"
	ev, _ = h.Event(c, now)
	if ev.EventSource != audit.SourceEntitlement || string(ev.RequestParameters) != `{"ProductCode":"saas"}` {
		t.Errorf("CBOR call: %s / %s", ev.EventSource, ev.RequestParameters)
	}
}

// TestHold checks that nothing of an answer leaves before the handler
// returns, however large it is.
func TestHold(t *testing.T) {
	done := make(chan struct{})
	big := strings.Repeat("x", 1<<20)
	handler := audithook.Hold(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", "1")
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte(big))
		<-done
	}))
	srv := httptest.NewServer(handler)
	defer srv.Close()
	got := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Error(err)
			close(got)
			return
		}
		got <- resp
	}()
	select {
	case <-got:
		t.Fatal("the answer arrived before the handler returned")
	case <-time.After(200 * time.Millisecond):
	}
	close(done)
	resp := <-got
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	var n int64
	buf := make([]byte, 64<<10)
	for {
		m, err := resp.Body.Read(buf)
		n += int64(m)
		if err != nil {
			break
		}
	}
	if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Test") != "1" || n != int64(len(big)) {
		t.Errorf("answer %d, header %q, %d bytes", resp.StatusCode, resp.Header.Get("X-Test"), n)
	}
}
