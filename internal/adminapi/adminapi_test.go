package adminapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/adminapi"
	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metering/meteringtest"
)

const token = "test-admin-token"

// outbox is an in-memory metering.Outbox that only keeps what is enqueued.
type outbox struct {
	mu sync.Mutex
	ns []metering.Notification
}

func (o *outbox) Enqueue(ctx context.Context, ns []metering.Notification) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ns = append(o.ns, ns...)
	return nil
}

func (o *outbox) ClaimDue(context.Context, time.Time, time.Duration, int) ([]metering.Notification, error) {
	return nil, nil
}

func (o *outbox) Record(context.Context, metering.Notification) error { return nil }

func (o *outbox) Notifications(ctx context.Context, f metering.NotificationFilter) ([]metering.Notification, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []metering.Notification
	for _, n := range o.ns {
		if (f.ProductCode == "" || n.ProductCode == f.ProductCode) && (f.Status == "" || n.Status == f.Status) {
			out = append(out, n)
		}
	}
	return out, nil
}

type fixture struct {
	svc    *metering.Service
	outbox *outbox
	srv    *httptest.Server
	client *adminapi.Client
}

// newFixture serves the admin API over a MemStore with one seller, one
// buyer and one SaaS product.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ob := &outbox{}
	svc, err := metering.NewService(t.Context(), metering.Options{Store: meteringtest.NewMemStore(), Outbox: ob}, metering.Config{})
	if err != nil {
		t.Fatal(err)
	}
	err = svc.ApplyState(t.Context(), metering.State{
		Accounts: []metering.Account{
			{ID: "111122223333", Name: "seller", AccessKeys: []metering.AccessKey{{ID: "AKIASELLER", Secret: "seller-secret"}}},
			{ID: "444455556666", Name: "buyer", AccessKeys: []metering.AccessKey{{ID: "AKIABUYER", Secret: "buyer-secret"}}},
		},
		Products: []metering.Product{{Code: "saas-1", Seller: "111122223333", Type: metering.ProductSaaS, Dimensions: []string{"users"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(adminapi.New(adminapi.Options{Service: svc, TokenHash: adminapi.HashToken(token)}))
	t.Cleanup(srv.Close)
	return &fixture{svc: svc, outbox: ob, srv: srv, client: adminapi.NewClient(srv.URL, token)}
}

func (f *fixture) do(t *testing.T, method, path, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
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
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func wantError(t *testing.T, err error, status int, code string) *adminapi.Error {
	t.Helper()
	var e *adminapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want an *adminapi.Error", err, err)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("error %d %s %q, want %d %s", e.Status, e.Code, e.Message, status, code)
	}
	return e
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"NoToken", "GET", "/admin/v1/accounts", "", 401},
		{"WrongToken", "GET", "/admin/v1/accounts", "Bearer nope", 401},
		{"WrongScheme", "GET", "/admin/v1/accounts", "Basic " + token, 401},
		{"TokenPrefix", "GET", "/admin/v1/accounts", "Bearer " + token[:5], 401},
		{"UnknownRouteNoToken", "GET", "/admin/v1/secret-things", "", 401},
		{"OK", "GET", "/admin/v1/accounts", "Bearer " + token, 200},
		{"LowercaseScheme", "GET", "/admin/v1/accounts", "bearer " + token, 200},
		{"OpenAPIPublic", "GET", "/admin/v1/openapi.json", "", 200},
		{"UnknownRoute", "GET", "/admin/v1/secret-things", "Bearer " + token, 404},
		{"WrongMethod", "DELETE", "/admin/v1/accounts/111122223333", "Bearer " + token, 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.do(t, tc.method, tc.path, tc.auth, "")
			if status != tc.want {
				t.Fatalf("%s %s: %d %s, want %d", tc.method, tc.path, status, body, tc.want)
			}
			if status >= 400 {
				var env struct{ Error adminapi.Error }
				if err := json.Unmarshal([]byte(body), &env); err != nil || env.Error.Code == "" || env.Error.Message == "" {
					t.Fatalf("error body %s is not {\"error\":{\"code\",\"message\"}}", body)
				}
			}
		})
	}
}

func TestAccounts(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()

	t.Run("Redacted", func(t *testing.T) {
		for _, path := range []string{"/admin/v1/accounts", "/admin/v1/accounts/111122223333", "/admin/v1/state"} {
			status, body := f.do(t, "GET", path, "Bearer "+token, "")
			if status != 200 || strings.Contains(body, "seller-secret") || strings.Contains(body, "buyer-secret") || strings.Contains(body, `"secret"`) {
				t.Errorf("GET %s: %d, shows a secret: %s", path, status, body)
			}
		}
	})
	t.Run("CreateKeepSecret", func(t *testing.T) {
		a := adminapi.Account{ID: "777788889999", Name: "new", AccessKeys: []adminapi.AccessKey{{ID: "AKIANEW", Secret: "new-secret", Platform: "ecs", Resource: "task-1"}}}
		got, err := f.client.PutAccount(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		if got.AccessKeys[0].Secret != "" || got.AccessKeys[0].Resource != "task-1" {
			t.Fatalf("PUT answered %+v", got)
		}
		a.Name, a.AccessKeys[0].Secret = "renamed", "" // no secret: keep it
		if _, err := f.client.PutAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		if s, _ := f.svc.Secret("AKIANEW"); s != "new-secret" {
			t.Fatalf("secret after a PUT without one = %q", s)
		}
		if got, _ := f.client.Account(ctx, a.ID); got.Name != "renamed" {
			t.Fatalf("name %q after rename", got.Name)
		}
	})
	t.Run("ErrNewKeyWithoutSecret", func(t *testing.T) {
		_, err := f.client.PutAccount(ctx, adminapi.Account{ID: "777788889999", AccessKeys: []adminapi.AccessKey{{ID: "AKIANOSECRET"}}})
		e := wantError(t, err, 400, adminapi.CodeValidation)
		if len(e.Problems) != 1 || e.Problems[0].Path != "access_keys[0].secret" {
			t.Fatalf("problems %+v", e.Problems)
		}
	})
	t.Run("ErrOtherAccountsKey", func(t *testing.T) {
		_, err := f.client.PutAccount(ctx, adminapi.Account{ID: "777788889999", AccessKeys: []adminapi.AccessKey{{ID: "AKIASELLER", Secret: "x"}}})
		wantError(t, err, 400, adminapi.CodeValidation)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := f.client.Account(ctx, "000000000000")
		wantError(t, err, 404, adminapi.CodeNotFound)
	})
	t.Run("ErrUnknownField", func(t *testing.T) {
		status, body := f.do(t, "PUT", "/admin/v1/accounts/777788889999", "Bearer "+token, `{"nmae":"typo"}`)
		if status != 400 || !strings.Contains(body, "nmae") {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("ErrPathMismatch", func(t *testing.T) {
		status, body := f.do(t, "PUT", "/admin/v1/accounts/777788889999", "Bearer "+token, `{"id":"111122223333"}`)
		if status != 400 {
			t.Fatalf("%d %s", status, body)
		}
	})
}

func TestProducts(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	p := adminapi.Product{Code: "c-1", Seller: "111122223333", Type: "container", Dimensions: []string{"tasks"}, PublicKeyVersions: []int{1, 2}}
	if _, err := f.client.PutProduct(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := f.client.Product(ctx, "c-1")
	if err != nil || got.Agreements != "both" || len(got.PublicKeyVersions) != 2 {
		t.Fatalf("GET = %+v, %v", got, err)
	}
	vs, err := f.client.KeyVersions(ctx)
	if err != nil || len(vs) != 2 || vs[0].Version != 1 || vs[1].Version != 2 || vs[1].PublicKeyPath != "/keys/register-usage/2.pem" {
		t.Fatalf("key versions %+v, %v", vs, err)
	}
	if len(vs[0].RetiredFor) != 1 || vs[0].RetiredFor[0] != "c-1" || len(vs[1].CurrentFor) != 1 {
		t.Fatalf("key versions %+v", vs)
	}

	_, err = f.client.PutProduct(ctx, adminapi.Product{Code: "bad", Seller: "000000000000", Type: "toaster", Webhooks: []string{"ftp://x"}})
	e := wantError(t, err, 400, adminapi.CodeValidation)
	paths := map[string]bool{}
	for _, p := range e.Problems {
		paths[p.Path] = true
	}
	for _, want := range []string{"seller", "type", "dimensions", "webhooks[0]"} {
		if !paths[want] {
			t.Errorf("no problem at %s in %+v", want, e.Problems)
		}
	}
	if _, err := f.client.Product(ctx, "bad"); err == nil {
		t.Error("an invalid product was stored")
	}
}

func TestSubscribeFulfillment(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	type post struct {
		contentType string
		form        url.Values
	}
	posts := make(chan post, 4)
	var status atomic.Int32
	status.Store(http.StatusFound)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		posts <- post{r.Header.Get("Content-Type"), r.PostForm}
		w.Header().Set("Location", "/welcome")
		w.WriteHeader(int(status.Load()))
	}))
	defer page.Close()
	p, _ := f.client.Product(ctx, "saas-1")
	p.FulfillmentURL, p.Webhooks = page.URL+"/fulfill", []string{page.URL + "/sns"}
	if _, err := f.client.PutProduct(ctx, p); err != nil {
		t.Fatal(err)
	}

	sub, err := f.client.Subscribe(ctx, "saas-1", adminapi.SubscribeRequest{AccountID: "444455556666", FreeTrial: true})
	if err != nil {
		t.Fatal(err)
	}
	got := <-posts
	if got.contentType != "application/x-www-form-urlencoded" || got.form.Get("x-amzn-marketplace-token") != sub.RegistrationToken.Token ||
		got.form.Get("x-amzn-marketplace-offer-type") != "free-trial" {
		t.Fatalf("fulfillment POST %+v, token %q", got, sub.RegistrationToken.Token)
	}
	if fl := sub.Fulfillment; fl == nil || fl.Status != http.StatusFound || fl.Location != "/welcome" || fl.Error != "" {
		t.Fatalf("fulfillment report %+v", sub.Fulfillment)
	}
	if sub.Customer.Status != "subscribed" || sub.Customer.LicenseArn == "" || !sub.Customer.FreeTrial {
		t.Fatalf("customer %+v", sub.Customer)
	}

	// A failing page does not undo the subscription.
	status.Store(http.StatusInternalServerError)
	sub, err = f.client.Subscribe(ctx, "saas-1", adminapi.SubscribeRequest{AccountID: "777788889999"})
	if err != nil || sub.Fulfillment.Status != 500 {
		t.Fatalf("subscribe with a failing page: %+v, %v", sub.Fulfillment, err)
	}
	if got := <-posts; got.form.Has("x-amzn-marketplace-offer-type") {
		t.Fatalf("not a free trial, yet the POST says %v", got.form)
	}
	if _, err := f.client.Customer(ctx, "saas-1", "777788889999"); err != nil {
		t.Fatal(err)
	}

	// An unreachable page is reported, not an error.
	p.FulfillmentURL = "http://127.0.0.1:1/fulfill"
	if _, err := f.client.PutProduct(ctx, p); err != nil {
		t.Fatal(err)
	}
	sub, err = f.client.Subscribe(ctx, "saas-1", adminapi.SubscribeRequest{AccountID: "123456789012"})
	if err != nil || sub.Fulfillment.Error == "" || sub.Fulfillment.Status != 0 {
		t.Fatalf("subscribe with an unreachable page: %+v, %v", sub.Fulfillment, err)
	}

	ns, err := f.client.Notifications(ctx, adminapi.NotificationFilter{Product: "saas-1"})
	if err != nil || len(ns) != 3 || ns[0].Action != "subscribe-success" || ns[0].Status != "pending" || len(ns[0].Body) == 0 {
		t.Fatalf("notifications %+v, %v", ns, err)
	}

	t.Run("ErrUnknownProduct", func(t *testing.T) {
		_, err := f.client.Subscribe(ctx, "nope", adminapi.SubscribeRequest{AccountID: "444455556666"})
		wantError(t, err, 404, adminapi.CodeNotFound)
	})
	t.Run("ErrBadAccount", func(t *testing.T) {
		_, err := f.client.Subscribe(ctx, "saas-1", adminapi.SubscribeRequest{AccountID: "12"})
		wantError(t, err, 400, adminapi.CodeValidation)
	})
	t.Run("Unsubscribe", func(t *testing.T) {
		cu, err := f.client.Unsubscribe(ctx, "saas-1", "444455556666", 90*time.Second)
		if err != nil || cu.Status != "unsubscribe-pending" || cu.PendingUntil.IsZero() || cu.Active == nil || !*cu.Active {
			t.Fatalf("unsubscribe: %+v, %v", cu, err)
		}
		_, err = f.client.Unsubscribe(ctx, "saas-1", "000000000000", 0)
		wantError(t, err, 404, adminapi.CodeNotFound)
		status, body := f.do(t, "POST", "/admin/v1/products/saas-1/customers/444455556666/unsubscribe", "Bearer "+token, `{"window":"soon"}`)
		if status != 400 {
			t.Fatalf("window soon: %d %s", status, body)
		}
	})
}

func TestApplyState(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	_, err := f.client.ApplyState(ctx, "mine.yaml", []byte(`accounts:
  - id: "777788889999"
    name: b2
customers:
  - product: saas-1
    account_id: "444455556666"
  - product: nope
    account_id: "444455556666"
`))
	e := wantError(t, err, 400, adminapi.CodeValidation)
	if len(e.Problems) != 1 || e.Problems[0].Line != 7 || e.Problems[0].Path != "customers[1].product" || !strings.Contains(e.Message, "mine.yaml") {
		t.Fatalf("error %+v", e)
	}
	if _, err := f.client.Account(ctx, "777788889999"); err == nil {
		t.Fatal("a refused state file was applied in part")
	}

	_, err = f.client.ApplyState(ctx, "mine.yaml", []byte("accounts:\n  - id: 12\n    nmae: x\n"))
	e = wantError(t, err, 400, adminapi.CodeValidation)
	if len(e.Problems) == 0 || e.Problems[0].Line != 2 {
		t.Fatalf("type error %+v", e)
	}

	// What GET /state shows applies again and changes nothing; the
	// secrets it leaves out are kept.
	st, err := f.client.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(st)
	res, err := f.client.ApplyState(ctx, "state.json", data)
	if err != nil || res.Accounts != 2 || len(res.Warnings) != 0 {
		t.Fatalf("re-applying GET /state: %+v, %v", res, err)
	}
	if s, _ := f.svc.Secret("AKIASELLER"); s != "seller-secret" {
		t.Fatalf("secret after re-applying = %q", s)
	}
	again, _ := f.client.State(ctx)
	if a, b := mustJSON(st), mustJSON(again); a != b {
		t.Fatalf("state changed:\n%s\n%s", a, b)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
