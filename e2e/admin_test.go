package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/meterd/meterd/internal/adminapi"
)

// stateSecrets are the secrets of testdata/state.yaml: no admin answer may
// carry one.
var stateSecrets = []string{"seller-secret", "other-seller-secret", "buyer-secret", "agent-secret", "task-secret", "pod-secret", "buyer-2-secret", "b2-task-secret"}

func adminGet(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func asAdminError(t *testing.T, err error, status int) *adminapi.Error {
	t.Helper()
	var e *adminapi.Error
	if !errors.As(err, &e) || e.Status != status {
		t.Fatalf("error %v, want an admin API error with status %d", err, status)
	}
	return e
}

func TestAdminAuth(t *testing.T) {
	s := start(t, serverOpts{})
	if s.AdminToken == "" || !strings.HasPrefix(s.AdminToken, "mtd_") {
		t.Fatalf("a first start generated no admin token: %q", s.AdminToken)
	}
	url := s.Endpoint() + "/admin/v1/products"
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + s.AdminToken + "x", s.AdminToken} {
		status, body := adminGet(t, url, auth)
		if status != 401 || !strings.Contains(body, `"code": "unauthorized"`) {
			t.Errorf("Authorization %q: %d %s, want 401 unauthorized", auth, status, body)
		}
	}
	if status, body := adminGet(t, url, "Bearer "+s.AdminToken); status != 200 {
		t.Fatalf("with the token: %d %s", status, body)
	}
	if status, body := adminGet(t, s.Endpoint()+"/admin/v1/openapi.json", ""); status != 200 || !strings.Contains(body, `"openapi": "3.1.0"`) {
		t.Fatalf("openapi.json without a token: %d %.100s", status, body)
	}
	_, err := adminapi.NewClient(s.Endpoint(), "wrong").Products(ctx)
	asAdminError(t, err, 401)

	// The token survives a restart: only its hash is kept, and it is not
	// printed again.
	s.Close()
	again := start(t, serverOpts{db: s.db})
	if again.AdminToken != "" {
		t.Fatal("a restart generated a new admin token")
	}
	if _, err := adminapi.NewClient(again.Endpoint(), s.AdminToken).Products(ctx); err != nil {
		t.Fatalf("the first start's token after a restart: %v", err)
	}
}

func TestAdminRedactsSecrets(t *testing.T) {
	s := start(t, serverOpts{})
	auth := "Bearer " + s.AdminToken
	for _, path := range []string{"/admin/v1/accounts", "/admin/v1/accounts/" + buyerAccount, "/admin/v1/state"} {
		status, body := adminGet(t, s.Endpoint()+path, auth)
		if status != 200 {
			t.Fatalf("GET %s: %d %s", path, status, body)
		}
		for _, secret := range stateSecrets {
			if strings.Contains(body, secret) {
				t.Errorf("GET %s shows the secret %q", path, secret)
			}
		}
		if strings.Contains(body, `"secret"`) {
			t.Errorf("GET %s has a secret field", path)
		}
	}
}

func TestAdminStateApplyErrorsNameTheLine(t *testing.T) {
	s := start(t, serverOpts{})
	admin := s.admin()
	file := `region: us-east-1
customers:
  - product: saas-both
    account_id: "444455556666"
    status: subscribed
  - product: no-such-product
    account_id: "444455556666"
registration_tokens:
  - token: t-1
    product: saas-both
    account_id: "000000000000"
`
	_, err := admin.ApplyState(ctx, "broken.yaml", []byte(file))
	e := asAdminError(t, err, 400)
	lines := map[string]int{}
	for _, p := range e.Problems {
		lines[p.Path] = p.Line
	}
	if lines["customers[1].product"] != 6 || lines["registration_tokens[0].account_id"] != 11 {
		t.Fatalf("problems %+v, want customers[1].product on line 6 and registration_tokens[0].account_id on line 11", e.Problems)
	}
	if !strings.Contains(e.Error(), "line 6") || !strings.Contains(e.Message, "broken.yaml") {
		t.Errorf("error text %q", e.Error())
	}

	// A type error is found while parsing, also with its line.
	_, err = admin.ApplyState(ctx, "types.yaml", []byte("products:\n  - code: x\n    dimensions: users\n"))
	if e := asAdminError(t, err, 400); len(e.Problems) == 0 || e.Problems[0].Line != 3 {
		t.Fatalf("type error %+v", e)
	}

	// The state as GET shows it applies again without a change.
	st, err := admin.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := admin.ApplyState(ctx, "roundtrip.json", []byte(adminJSON(t, st)))
	if err != nil || res.Accounts != len(st.Accounts) || len(res.Warnings) != 0 {
		t.Fatalf("re-applying GET /state: %+v, %v", res, err)
	}
	// Secrets left out of it were kept: the seller still signs.
	if _, err := s.client(sellerKey).BatchMeterUsage(ctx, batch("saas-both", usage(s.clock.Now(), "users", 1, ident("cust-1")))); err != nil {
		t.Fatalf("the seller's key after re-applying the redacted state: %v", err)
	}
}

func TestAdminRoundTrips(t *testing.T) {
	s := start(t, serverOpts{})
	admin := s.admin()

	// A new seller, with a key that signs SDK calls at once.
	const newSeller = "121212121212"
	acct, err := admin.PutAccount(ctx, adminapi.Account{ID: newSeller, Name: "new-seller", AccessKeys: []adminapi.AccessKey{{ID: "AKIANEWSELLER0000001", Secret: "new-seller-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := admin.Account(ctx, newSeller); err != nil || got.Name != "new-seller" || len(got.AccessKeys) != 1 || got.AccessKeys[0].Secret != "" || acct.AccessKeys[0].Secret != "" {
		t.Fatalf("GET account = %+v, %v", got, err)
	}
	prod, err := admin.PutProduct(ctx, adminapi.Product{Code: "new-saas", Seller: newSeller, Type: "saas", Dimensions: []string{"calls"}, Agreements: "legacy"})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := admin.Products(ctx)
	if err != nil || !adminHasProduct(ps, "new-saas") || prod.Agreements != "legacy" {
		t.Fatalf("products %+v, %v", ps, err)
	}

	// A customer with entitlements, then a token that resolves to it.
	users := int64(5)
	cu, err := admin.PutCustomer(ctx, adminapi.Customer{Product: "new-saas", AccountID: buyerAccount, CustomerIdentifier: "new-cust-1",
		Entitlements: []adminapi.Entitlement{{Dimension: "calls", Value: adminapi.EntitlementValue{Integer: &users}}}})
	if err != nil || cu.Status != "subscribed" || cu.Active == nil || !*cu.Active || len(cu.Entitlements) != 1 {
		t.Fatalf("PUT customer = %+v, %v", cu, err)
	}
	cs, err := admin.Customers(ctx, adminapi.CustomerFilter{Product: "new-saas"})
	if err != nil || len(cs) != 1 || *cs[0].Entitlements[0].Value.Integer != 5 {
		t.Fatalf("customers of new-saas %+v, %v", cs, err)
	}
	tok, err := admin.CreateRegistrationToken(ctx, adminapi.RegistrationToken{Product: "new-saas", AccountID: buyerAccount, TTL: "30m"})
	if err != nil || !strings.HasSuffix(tok.Token, "=") || tok.ExpiresAt.Sub(s.clock.Now()) > 30*time.Minute {
		t.Fatalf("token %+v, %v", tok, err)
	}
	ts, err := admin.RegistrationTokens(ctx, "new-saas", "")
	if err != nil || len(ts) != 1 || ts[0].Token != tok.Token {
		t.Fatalf("tokens %+v, %v", ts, err)
	}
	newSellerKey := cred("AKIANEWSELLER0000001", "new-seller-secret")
	res, err := s.client(newSellerKey).ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String(tok.Token)})
	if err != nil || aws.ToString(res.CustomerIdentifier) != "new-cust-1" || aws.ToString(res.ProductCode) != "new-saas" {
		t.Fatalf("ResolveCustomer = %+v, %v", res, err)
	}
	out, err := s.client(newSellerKey).BatchMeterUsage(ctx, batch("new-saas", usage(s.clock.Now(), "calls", 3, ident("new-cust-1"))))
	if err != nil || out.Results[0].Status != types.UsageRecordResultStatusSuccess {
		t.Fatalf("BatchMeterUsage as the new seller: %+v, %v", out, err)
	}

	// Status through the admin API: unsubscribed customers are refused.
	cu.Status, cu.Active = "unsubscribed", nil
	if _, err := admin.PutCustomer(ctx, cu); err != nil {
		t.Fatal(err)
	}
	out, err = s.client(newSellerKey).BatchMeterUsage(ctx, batch("new-saas", usage(s.clock.Now(), "calls", 4, ident("new-cust-1"))))
	if err != nil || out.Results[0].Status != types.UsageRecordResultStatusCustomerNotSubscribed {
		t.Fatalf("BatchMeterUsage for an unsubscribed customer: %+v, %v", out, err)
	}

	// Key versions: container-1 uses 1 (retired) and 2 (current); each PEM
	// is served where the listing says.
	vs, err := admin.KeyVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var v1, v2 *adminapi.KeyVersion
	for i := range vs {
		switch vs[i].Version {
		case 1:
			v1 = &vs[i]
		case 2:
			v2 = &vs[i]
		}
	}
	if v1 == nil || v2 == nil || !strings.Contains(strings.Join(v1.RetiredFor, ","), "container-1") || strings.Join(v2.CurrentFor, ",") != "container-1" {
		t.Fatalf("key versions %+v", vs)
	}
	if status, body := adminGet(t, s.Endpoint()+v2.PublicKeyPath, ""); status != 200 || !strings.Contains(body, "PUBLIC KEY") {
		t.Fatalf("GET %s: %d %s", v2.PublicKeyPath, status, body)
	}

	// Errors map to statuses.
	_, err = admin.Product(ctx, "no-such")
	asAdminError(t, err, 404)
	_, err = admin.PutProduct(ctx, adminapi.Product{Code: "bad", Seller: "000000000000", Type: "saas", Dimensions: []string{"x"}})
	if e := asAdminError(t, err, 400); len(e.Problems) != 1 || e.Problems[0].Path != "seller" {
		t.Fatalf("problems %+v", e.Problems)
	}
	_, err = admin.Unsubscribe(ctx, "saas-both", buyer2Account, 0) // cust-2 is unsubscribed
	asAdminError(t, err, 409)
}

func adminHasProduct(ps []adminapi.Product, code string) bool {
	for _, p := range ps {
		if p.Code == code {
			return true
		}
	}
	return false
}

func adminJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
