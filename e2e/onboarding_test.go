package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/meterd/meterd/internal/adminapi"
)

// admin returns an admin API client with the token meterd generated at
// its first start.
func (s *server) admin() *adminapi.Client {
	return adminapi.NewClient(s.Endpoint(), s.AdminToken)
}

// sellerSite is what a SaaS seller runs and a test starts on 127.0.0.1: a
// fulfillment page and a webhook receiver. /sns-flaky answers its first
// POST with HTTP 500.
type sellerSite struct {
	*httptest.Server
	mu           sync.Mutex
	fulfillments []fulfillmentPost
	messages     []snsMessage
	flakyFailed  bool
}

type fulfillmentPost struct {
	contentType string
	raw         string
	form        url.Values
}

// snsMessage is one webhook POST: SNS's JSON envelope with Message, itself
// JSON, decoded.
type snsMessage struct {
	path     string
	header   http.Header
	envelope map[string]string
	message  map[string]string
}

func newSellerSite(t *testing.T) *sellerSite {
	site := &sellerSite{}
	site.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		site.mu.Lock()
		defer site.mu.Unlock()
		switch r.URL.Path {
		case "/fulfill":
			form, err := url.ParseQuery(string(body))
			if err != nil {
				t.Errorf("fulfillment body %q: %v", body, err)
			}
			site.fulfillments = append(site.fulfillments, fulfillmentPost{r.Header.Get("Content-Type"), string(body), form})
			w.Header().Set("Location", "/register")
			w.WriteHeader(http.StatusSeeOther)
		case "/sns", "/sns-flaky":
			if r.URL.Path == "/sns-flaky" && !site.flakyFailed {
				site.flakyFailed = true
				http.Error(w, "not today", http.StatusInternalServerError)
				return
			}
			m := snsMessage{path: r.URL.Path, header: r.Header.Clone()}
			if err := json.Unmarshal(body, &m.envelope); err != nil {
				t.Errorf("webhook body is not a JSON object of strings: %v\n%s", err, body)
			}
			if err := json.Unmarshal([]byte(m.envelope["Message"]), &m.message); err != nil {
				t.Errorf("Message is not a JSON string of an object of strings: %v\n%s", err, body)
			}
			site.messages = append(site.messages, m)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(site.Close)
	return site
}

// waitMessage waits for the webhook at path to receive action, and returns
// the message.
func (site *sellerSite) waitMessage(t *testing.T, path, action string) snsMessage {
	t.Helper()
	var got snsMessage
	waitUntil(t, path+" receives "+action, func() bool {
		site.mu.Lock()
		defer site.mu.Unlock()
		for _, m := range site.messages {
			if m.path == path && m.message["action"] == action {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// waitUntil polls cond until it holds, for at most 5 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// checkSNSEnvelope checks the SNS envelope AWS Marketplace sends.
func checkSNSEnvelope(t *testing.T, m snsMessage, topic string, want map[string]string) {
	t.Helper()
	e := m.envelope
	if e["Type"] != "Notification" || e["MessageId"] == "" || e["TopicArn"] != topic {
		t.Errorf("envelope %v, want Type Notification, a MessageId and TopicArn %s", e, topic)
	}
	if _, err := time.Parse(time.RFC3339, e["Timestamp"]); err != nil {
		t.Errorf("Timestamp %q: %v", e["Timestamp"], err)
	}
	if m.header.Get("x-amz-sns-message-type") != "Notification" || m.header.Get("x-amz-sns-topic-arn") != topic {
		t.Errorf("SNS headers %v", m.header)
	}
	for k, v := range want {
		if m.message[k] != v {
			t.Errorf("Message[%q] = %q, want %q (Message %v)", k, m.message[k], v, m.message)
		}
	}
}

// TestOnboarding runs a SaaS buyer's life through the admin API, a
// fulfillment page and a webhook receiver on 127.0.0.1, and the Go SDK:
// subscribe, ResolveCustomer, meter, unsubscribe, and the notifications of
// each step.
func TestOnboarding(t *testing.T) {
	s := start(t, serverOpts{})
	site := newSellerSite(t)
	admin := s.admin()
	seller := s.client(sellerKey)
	const (
		code  = "saas-onboard"
		buyer = buyer2Account
	)
	subscriptionTopic := "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-" + code
	entitlementTopic := "arn:aws:sns:us-east-1:287250355862:aws-mp-entitlement-notification-" + code

	_, err := admin.PutProduct(ctx, adminapi.Product{
		Code: code, Seller: sellerAccount, Type: "saas", Dimensions: []string{"users", "seats"},
		FulfillmentURL: site.URL + "/fulfill", Webhooks: []string{site.URL + "/sns", site.URL + "/sns-flaky"},
	})
	if err != nil {
		t.Fatal(err)
	}

	// The buyer subscribes: meterd POSTs the token to the fulfillment page
	// as the buyer's browser would.
	sub, err := admin.Subscribe(ctx, code, adminapi.SubscribeRequest{AccountID: buyer})
	if err != nil {
		t.Fatal(err)
	}
	token := sub.RegistrationToken.Token
	if f := sub.Fulfillment; f == nil || f.Status != http.StatusSeeOther || f.Location != "/register" || f.Error != "" {
		t.Fatalf("fulfillment report %+v", sub.Fulfillment)
	}
	site.mu.Lock()
	posts := append([]fulfillmentPost(nil), site.fulfillments...)
	site.mu.Unlock()
	if len(posts) != 1 {
		t.Fatalf("the fulfillment page got %d POSTs, want 1", len(posts))
	}
	p := posts[0]
	if p.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", p.contentType)
	}
	if got := p.form.Get("x-amzn-marketplace-token"); got != token || token == "" {
		t.Errorf("form token %q, want exactly %q", got, token)
	}
	if !strings.Contains(p.raw, "x-amzn-marketplace-token="+url.QueryEscape(token)) {
		t.Errorf("raw body %q does not URL-encode the token", p.raw)
	}
	if p.form.Has("x-amzn-marketplace-offer-type") {
		t.Errorf("not a free trial, yet the form says %v", p.form)
	}

	// The seller's fulfillment page resolves the token with the SDK.
	res, err := seller.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String(token)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(res.CustomerAWSAccountId) != buyer || aws.ToString(res.ProductCode) != code ||
		aws.ToString(res.LicenseArn) != sub.Customer.LicenseArn || aws.ToString(res.CustomerIdentifier) != sub.Customer.CustomerIdentifier ||
		sub.Customer.LicenseArn == "" || sub.Customer.CustomerIdentifier == "" {
		t.Fatalf("ResolveCustomer = %+v, subscription %+v", res, sub.Customer)
	}

	subscribed := map[string]string{
		"action": "subscribe-success", "customer-identifier": sub.Customer.CustomerIdentifier, "product-code": code,
		"offer-identifier": sub.Customer.OfferID, "isFreeTrialTermPresent": "false",
	}
	checkSNSEnvelope(t, site.waitMessage(t, "/sns", "subscribe-success"), subscriptionTopic, subscribed)

	// /sns-flaky failed the first attempt: the admin API shows the retry
	// pending with the error, then the delivery.
	flaky := func() adminapi.Notification {
		ns, err := admin.Notifications(ctx, adminapi.NotificationFilter{Product: code})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			if n.URL == site.URL+"/sns-flaky" && n.Action == "subscribe-success" {
				return n
			}
		}
		t.Fatalf("no subscribe-success delivery to /sns-flaky in %+v", ns)
		return adminapi.Notification{}
	}
	var failed adminapi.Notification
	waitUntil(t, "the first delivery to /sns-flaky fails", func() bool { failed = flaky(); return failed.Attempts >= 1 })
	if failed.Status != "pending" || failed.Attempts != 1 || failed.LastError != "HTTP 500" || failed.NextAttempt.IsZero() || !failed.DeliveredAt.IsZero() {
		t.Fatalf("after a failed attempt: %+v", failed)
	}
	checkSNSEnvelope(t, site.waitMessage(t, "/sns-flaky", "subscribe-success"), subscriptionTopic, subscribed)
	waitUntil(t, "the admin API shows the retry delivered", func() bool { return flaky().Status == "delivered" })
	if n := flaky(); n.Attempts != 2 || n.DeliveredAt.IsZero() || len(n.Body) == 0 {
		t.Fatalf("delivered after a retry: %+v", n)
	}

	// The seller meters the new customer.
	now := s.clock.Now()
	meter := func(at time.Time, dim string) types.UsageRecordResultStatus {
		t.Helper()
		out, err := seller.BatchMeterUsage(ctx, batch(code, usage(at, dim, 2, account(buyer))))
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Results) != 1 {
			t.Fatalf("results %+v, unprocessed %+v", out.Results, out.UnprocessedRecords)
		}
		return out.Results[0].Status
	}
	if st := meter(now, "users"); st != types.UsageRecordResultStatusSuccess {
		t.Fatalf("metering a new customer: %s", st)
	}

	// Unsubscribe with a one-hour window: unsubscribe-pending now, metering
	// still accepted inside the window.
	cu, err := admin.Unsubscribe(ctx, code, buyer, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if cu.Status != "unsubscribe-pending" || cu.PendingUntil.Sub(now) < 59*time.Minute {
		t.Fatalf("after unsubscribe: %+v", cu)
	}
	pending := map[string]string{"action": "unsubscribe-pending", "customer-identifier": sub.Customer.CustomerIdentifier, "product-code": code, "isFreeTrialTermPresent": "false"}
	checkSNSEnvelope(t, site.waitMessage(t, "/sns", "unsubscribe-pending"), subscriptionTopic, pending)
	if st := meter(s.clock.Now(), "seats"); st != types.UsageRecordResultStatusSuccess {
		t.Fatalf("metering inside the pending window: %s", st)
	}

	// Past the window, metering is refused and unsubscribe-success arrives.
	after := cu.PendingUntil.Add(time.Minute)
	s.clock.Freeze(after)
	if st := meter(after, "users"); st != types.UsageRecordResultStatusCustomerNotSubscribed {
		t.Fatalf("metering after the window: %s, want CustomerNotSubscribed", st)
	}
	done := site.waitMessage(t, "/sns", "unsubscribe-success")
	checkSNSEnvelope(t, done, subscriptionTopic, map[string]string{"action": "unsubscribe-success", "product-code": code})
	if ts, _ := time.Parse(time.RFC3339, done.envelope["Timestamp"]); ts.Before(cu.PendingUntil.Truncate(time.Second)) {
		t.Errorf("unsubscribe-success Timestamp %s is before the window's end %s", ts, cu.PendingUntil)
	}
	if c, err := admin.Customer(ctx, code, buyer); err != nil || c.Active == nil || *c.Active {
		t.Fatalf("customer after the window: %+v, %v", c, err)
	}

	// A change of entitlements is announced on the entitlement topic.
	seats := int64(25)
	if _, err := admin.PutEntitlements(ctx, code, buyer, []adminapi.Entitlement{{Dimension: "seats", Value: adminapi.EntitlementValue{Integer: &seats}}}); err != nil {
		t.Fatal(err)
	}
	upd := site.waitMessage(t, "/sns", "entitlement-updated")
	checkSNSEnvelope(t, upd, entitlementTopic, map[string]string{"action": "entitlement-updated", "customer-identifier": sub.Customer.CustomerIdentifier, "product-code": code})
	if _, ok := upd.message["offer-identifier"]; ok {
		t.Errorf("entitlement-updated carries offer-identifier: %v", upd.message)
	}
}

// TestOnboardingFreeTrial checks the free-trial form field and flag.
func TestOnboardingFreeTrial(t *testing.T) {
	s := start(t, serverOpts{})
	site := newSellerSite(t)
	admin := s.admin()
	const code = "saas-trial"
	if _, err := admin.PutProduct(ctx, adminapi.Product{Code: code, Seller: sellerAccount, Type: "saas", Dimensions: []string{"users"},
		Agreements: "concurrent", FulfillmentURL: site.URL + "/fulfill", Webhooks: []string{site.URL + "/sns"}}); err != nil {
		t.Fatal(err)
	}
	sub, err := admin.Subscribe(ctx, code, adminapi.SubscribeRequest{AccountID: buyerAccount, FreeTrial: true, OfferID: "offer-trial-1"})
	if err != nil {
		t.Fatal(err)
	}
	site.mu.Lock()
	form := site.fulfillments[0].form
	site.mu.Unlock()
	if form.Get("x-amzn-marketplace-offer-type") != "free-trial" || form.Get("x-amzn-marketplace-token") != sub.RegistrationToken.Token {
		t.Fatalf("free-trial form %v", form)
	}
	if sub.Customer.CustomerIdentifier != "" {
		t.Errorf("a concurrent-agreements customer got identifier %q", sub.Customer.CustomerIdentifier)
	}
	m := site.waitMessage(t, "/sns", "subscribe-success")
	checkSNSEnvelope(t, m, "arn:aws:sns:us-east-1:287250355862:aws-mp-subscription-notification-"+code,
		map[string]string{"isFreeTrialTermPresent": "true", "offer-identifier": "offer-trial-1", "product-code": code})

	// ResolveCustomer gives no CustomerIdentifier for a concurrent product.
	res, err := s.client(sellerKey).ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String(sub.RegistrationToken.Token)})
	if err != nil || res.CustomerIdentifier != nil || aws.ToString(res.LicenseArn) != sub.Customer.LicenseArn {
		t.Fatalf("ResolveCustomer = %+v, %v", res, err)
	}
}
