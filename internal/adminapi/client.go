package adminapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls a meterd's admin API. The CLI and the tests use it.
type Client struct {
	// Endpoint is meterd's base URL, as http://127.0.0.1:8080.
	Endpoint string
	// Token is the admin bearer token.
	Token string
	// HTTP is the client requests go through; default one with a 30 s
	// timeout.
	HTTP *http.Client
}

// NewClient returns a Client for the meterd at endpoint.
func NewClient(endpoint, token string) *Client {
	return &Client{Endpoint: endpoint, Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// do sends a request and decodes a 2xx answer into out; any other answer
// becomes an *Error. body is JSON-encoded unless it is a []byte, which is
// sent as it is.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	contentType := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, contentType = bytes.NewReader(b), "application/yaml"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	u := strings.TrimSuffix(c.Endpoint, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var env struct{ Error *Error }
		if json.Unmarshal(data, &env) != nil || env.Error == nil {
			return &Error{Status: resp.StatusCode, Code: CodeInternal, Message: fmt.Sprintf("%s %s: HTTP %d: %.200s", method, path, resp.StatusCode, data)}
		}
		env.Error.Status = resp.StatusCode
		return env.Error
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// Accounts lists the accounts, secrets left out.
func (c *Client) Accounts(ctx context.Context) ([]Account, error) {
	var out []Account
	return out, c.do(ctx, "GET", Prefix+"/accounts", nil, nil, &out)
}

// Account returns one account.
func (c *Client) Account(ctx context.Context, id string) (Account, error) {
	var out Account
	return out, c.do(ctx, "GET", Prefix+"/accounts/"+esc(id), nil, nil, &out)
}

// PutAccount creates or updates an account and its listed access keys.
func (c *Client) PutAccount(ctx context.Context, a Account) (Account, error) {
	var out Account
	return out, c.do(ctx, "PUT", Prefix+"/accounts/"+esc(a.ID), nil, a, &out)
}

// Products lists the products.
func (c *Client) Products(ctx context.Context) ([]Product, error) {
	var out []Product
	return out, c.do(ctx, "GET", Prefix+"/products", nil, nil, &out)
}

// Product returns one product.
func (c *Client) Product(ctx context.Context, code string) (Product, error) {
	var out Product
	return out, c.do(ctx, "GET", Prefix+"/products/"+esc(code), nil, nil, &out)
}

// PutProduct creates or replaces a product.
func (c *Client) PutProduct(ctx context.Context, p Product) (Product, error) {
	var out Product
	return out, c.do(ctx, "PUT", Prefix+"/products/"+esc(p.Code), nil, p, &out)
}

// CustomerFilter selects customers; empty fields match anything.
type CustomerFilter struct {
	Product, Account, Status string
}

// Customers lists agreements.
func (c *Client) Customers(ctx context.Context, f CustomerFilter) ([]Customer, error) {
	var out []Customer
	return out, c.do(ctx, "GET", Prefix+"/customers", values("product", f.Product, "account", f.Account, "status", f.Status), nil, &out)
}

// Customer returns one agreement.
func (c *Client) Customer(ctx context.Context, product, account string) (Customer, error) {
	var out Customer
	return out, c.do(ctx, "GET", customerPath(product, account), nil, nil, &out)
}

// PutCustomer creates or replaces an agreement.
func (c *Client) PutCustomer(ctx context.Context, cu Customer) (Customer, error) {
	var out Customer
	return out, c.do(ctx, "PUT", customerPath(cu.Product, cu.AccountID), nil, cu, &out)
}

// PutEntitlements replaces a customer's entitlements.
func (c *Client) PutEntitlements(ctx context.Context, product, account string, es []Entitlement) (Customer, error) {
	var out Customer
	body := struct {
		Entitlements []Entitlement `json:"entitlements"`
	}{append([]Entitlement{}, es...)}
	return out, c.do(ctx, "PUT", customerPath(product, account)+"/entitlements", nil, body, &out)
}

func customerPath(product, account string) string {
	return Prefix + "/products/" + esc(product) + "/customers/" + esc(account)
}

// Subscribe subscribes a buyer to a product, as a buyer accepting an offer
// on AWS does; the answer says what the fulfillment page answered.
func (c *Client) Subscribe(ctx context.Context, product string, in SubscribeRequest) (Subscription, error) {
	var out Subscription
	return out, c.do(ctx, "POST", Prefix+"/products/"+esc(product)+"/subscriptions", nil, in, &out)
}

// Unsubscribe starts a buyer's unsubscribe; window 0 takes the server's
// default.
func (c *Client) Unsubscribe(ctx context.Context, product, account string, window time.Duration) (Customer, error) {
	var in UnsubscribeRequest
	if window > 0 {
		in.Window = window.String()
	}
	var out Customer
	return out, c.do(ctx, "POST", customerPath(product, account)+"/unsubscribe", nil, in, &out)
}

// RegistrationTokens lists registration tokens, optionally of one product
// or account.
func (c *Client) RegistrationTokens(ctx context.Context, product, account string) ([]RegistrationToken, error) {
	var out []RegistrationToken
	return out, c.do(ctx, "GET", Prefix+"/registration-tokens", values("product", product, "account", account), nil, &out)
}

// CreateRegistrationToken adds a token for an existing customer.
func (c *Client) CreateRegistrationToken(ctx context.Context, t RegistrationToken) (RegistrationToken, error) {
	var out RegistrationToken
	return out, c.do(ctx, "POST", Prefix+"/registration-tokens", nil, t, &out)
}

// KeyVersions lists the RegisterUsage key versions products use.
func (c *Client) KeyVersions(ctx context.Context) ([]KeyVersion, error) {
	var out []KeyVersion
	return out, c.do(ctx, "GET", Prefix+"/key-versions", nil, nil, &out)
}

// NotificationFilter selects webhook deliveries; empty fields match
// anything, Limit 0 is the server's default (100).
type NotificationFilter struct {
	Product, Status string
	Limit           int
}

// Notifications lists webhook deliveries, newest first.
func (c *Client) Notifications(ctx context.Context, f NotificationFilter) ([]Notification, error) {
	var out []Notification
	limit := ""
	if f.Limit > 0 {
		limit = strconv.Itoa(f.Limit)
	}
	return out, c.do(ctx, "GET", Prefix+"/notifications", values("product", f.Product, "status", f.Status, "limit", limit), nil, &out)
}

// State returns the whole reference data, secrets left out.
func (c *Client) State(ctx context.Context) (State, error) {
	var out State
	return out, c.do(ctx, "GET", Prefix+"/state", nil, nil, &out)
}

// ApplyState applies a state file (YAML or JSON); name is the file name
// errors mention.
func (c *Client) ApplyState(ctx context.Context, name string, data []byte) (ApplyResult, error) {
	var out ApplyResult
	return out, c.do(ctx, "POST", Prefix+"/state", values("name", name), data, &out)
}

// values builds a query from name, value pairs, leaving out empty values.
func values(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	return q
}
