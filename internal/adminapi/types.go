package adminapi

import (
	"encoding/json"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// The resource types below use the state file's keys (docs/state-file.md),
// so that what GET /admin/v1/state returns can be applied again.

// Account is an AWS account, seller or buyer.
type Account struct {
	ID         string      `json:"id"`
	Name       string      `json:"name,omitempty"`
	AccessKeys []AccessKey `json:"access_keys,omitempty"`
}

// AccessKey is a SigV4 credential acting as an account. Secret is
// write-only: answers never carry it, and a PUT that omits the secret of a
// key the account already has keeps the stored one.
type AccessKey struct {
	ID       string `json:"id"`
	Secret   string `json:"secret,omitempty"`
	Resource string `json:"resource,omitempty"`
	Platform string `json:"platform,omitempty"`
}

// Product is a Marketplace listing.
type Product struct {
	Code              string   `json:"code"`
	Seller            string   `json:"seller"`
	Type              string   `json:"type"`
	Dimensions        []string `json:"dimensions"`
	Agreements        string   `json:"agreements,omitempty"`
	PublicKeyVersions []int    `json:"public_key_versions,omitempty"`
	FulfillmentURL    string   `json:"fulfillment_url,omitempty"`
	Webhooks          []string `json:"webhooks,omitempty"`
}

// Customer is one buyer's agreement for one product.
type Customer struct {
	Product            string        `json:"product"`
	AccountID          string        `json:"account_id"`
	CustomerIdentifier string        `json:"customer_identifier,omitempty"`
	LicenseArn         string        `json:"license_arn,omitempty"`
	Status             string        `json:"status,omitempty"`
	PendingUntil       time.Time     `json:"pending_until,omitzero"`
	OfferID            string        `json:"offer_id,omitempty"`
	FreeTrial          bool          `json:"free_trial,omitempty"`
	Entitlements       []Entitlement `json:"entitlements,omitempty"`
	// Active is read-only: whether usage is accepted now (subscribed, or
	// inside an unsubscribe-pending window). The state document omits it.
	Active *bool `json:"active,omitempty"`
}

// Entitlement is what GetEntitlements returns for a customer and dimension.
type Entitlement struct {
	Dimension string           `json:"dimension"`
	Value     EntitlementValue `json:"value"`
	Expires   time.Time        `json:"expires,omitzero"`
}

// EntitlementValue holds exactly one of its members.
type EntitlementValue struct {
	Integer *int64   `json:"integer,omitempty"`
	Double  *float64 `json:"double,omitempty"`
	Boolean *bool    `json:"boolean,omitempty"`
	String  *string  `json:"string,omitempty"`
}

// RegistrationToken is what a buyer's browser posts to a fulfillment URL.
// To create one, give Product, AccountID and optionally Token (default: a
// random one) and TTL (default 4h); answers carry ExpiresAt. In the state
// document a token carries TTL, the time it has left, as state files do.
type RegistrationToken struct {
	Token     string    `json:"token,omitempty"`
	Product   string    `json:"product"`
	AccountID string    `json:"account_id"`
	TTL       string    `json:"ttl,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// State is the whole reference data in the state file's schema. From GET
// /admin/v1/state secrets are left out; applying it again keeps them.
type State struct {
	Region             string              `json:"region,omitempty"`
	Accounts           []Account           `json:"accounts,omitempty"`
	Products           []Product           `json:"products,omitempty"`
	Customers          []Customer          `json:"customers,omitempty"`
	RegistrationTokens []RegistrationToken `json:"registration_tokens,omitempty"`
}

// ApplyResult answers POST /admin/v1/state.
type ApplyResult struct {
	Accounts           int      `json:"accounts"`
	Products           int      `json:"products"`
	Customers          int      `json:"customers"`
	RegistrationTokens int      `json:"registration_tokens"`
	Warnings           []string `json:"warnings,omitempty"`
}

// SubscribeRequest is a buyer accepting a product's offer.
type SubscribeRequest struct {
	AccountID          string `json:"account_id"`
	CustomerIdentifier string `json:"customer_identifier,omitempty"`
	OfferID            string `json:"offer_id,omitempty"`
	FreeTrial          bool   `json:"free_trial,omitempty"`
	// TokenTTL is how long the registration token lives; default 4h.
	TokenTTL string `json:"token_ttl,omitempty"`
}

// Subscription is the outcome of a subscribe: the agreement, the
// registration token, and what the fulfillment page answered.
type Subscription struct {
	Customer          Customer          `json:"customer"`
	RegistrationToken RegistrationToken `json:"registration_token"`
	// Fulfillment is absent when the product has no fulfillment URL.
	Fulfillment *Fulfillment `json:"fulfillment,omitempty"`
}

// Fulfillment reports the POST of the registration token to the product's
// fulfillment URL. A failing page does not undo the subscription.
type Fulfillment struct {
	URL      string `json:"url"`
	Status   int    `json:"status,omitempty"`   // the page's HTTP status
	Location string `json:"location,omitempty"` // where a redirect sent the browser
	Error    string `json:"error,omitempty"`    // why the POST got no answer
}

// UnsubscribeRequest starts a buyer's unsubscribe.
type UnsubscribeRequest struct {
	// Window is how long metering is still accepted, as "1h" or "90s";
	// default the server's (one hour).
	Window string `json:"window,omitempty"`
}

// Notification is one webhook delivery from the outbox.
type Notification struct {
	ID          string          `json:"id"`
	ProductCode string          `json:"product_code"`
	URL         string          `json:"url"`
	Action      string          `json:"action"`
	Status      string          `json:"status"`
	Attempts    int             `json:"attempts"`
	LastError   string          `json:"last_error,omitempty"`
	CreatedAt   time.Time       `json:"created_at,omitzero"`
	NotBefore   time.Time       `json:"not_before,omitzero"`
	NextAttempt time.Time       `json:"next_attempt,omitzero"`
	DeliveredAt time.Time       `json:"delivered_at,omitzero"`
	Body        json.RawMessage `json:"body,omitempty"` // the SNS envelope, as POSTed
}

// KeyVersion is a RegisterUsage public-key version that products use.
type KeyVersion struct {
	Version int `json:"version"`
	// PublicKeyPath is where meterd serves the version's PEM public key.
	PublicKeyPath string `json:"public_key_path"`
	// CurrentFor lists the products whose newest version it is.
	CurrentFor []string `json:"current_for,omitempty"`
	// RetiredFor lists the products that still accept it, answering with
	// PublicKeyRotationTimestamp.
	RetiredFor []string `json:"retired_for,omitempty"`
}

func accountOut(a metering.Account) Account {
	out := Account{ID: a.ID, Name: a.Name}
	for _, k := range a.AccessKeys {
		out.AccessKeys = append(out.AccessKeys, AccessKey{ID: k.ID, Resource: k.Resource, Platform: string(k.Platform)})
	}
	return out
}

func (a Account) domain() metering.Account {
	out := metering.Account{ID: a.ID, Name: a.Name}
	for _, k := range a.AccessKeys {
		out.AccessKeys = append(out.AccessKeys, metering.AccessKey{ID: k.ID, Secret: k.Secret, AccountID: a.ID, Resource: k.Resource, Platform: metering.Platform(k.Platform)})
	}
	return out
}

func productOut(p metering.Product) Product {
	return Product{
		Code: p.Code, Seller: p.Seller, Type: string(p.Type), Dimensions: p.Dimensions,
		Agreements: string(p.Agreements), PublicKeyVersions: p.PublicKeyVersions,
		FulfillmentURL: p.FulfillmentURL, Webhooks: p.Webhooks,
	}
}

func (p Product) domain() metering.Product {
	return metering.Product{
		Code: p.Code, Seller: p.Seller, Type: metering.ProductType(p.Type), Dimensions: p.Dimensions,
		Agreements: metering.AgreementMode(p.Agreements), PublicKeyVersions: p.PublicKeyVersions,
		FulfillmentURL: p.FulfillmentURL, Webhooks: p.Webhooks,
	}
}

// customerOut shows c; with now set it says whether c is active then.
func customerOut(c metering.Customer, now time.Time) Customer {
	out := Customer{
		Product: c.Product, AccountID: c.AccountID, CustomerIdentifier: c.CustomerIdentifier,
		LicenseArn: c.LicenseArn, Status: string(c.Status), PendingUntil: c.PendingUntil,
		OfferID: c.OfferID, FreeTrial: c.FreeTrial,
	}
	for _, e := range c.Entitlements {
		out.Entitlements = append(out.Entitlements, Entitlement{Dimension: e.Dimension, Value: EntitlementValue(e.Value), Expires: e.Expires})
	}
	if !now.IsZero() {
		active := c.ActiveAt(now)
		out.Active = &active
	}
	return out
}

func (c Customer) domain() metering.Customer {
	out := metering.Customer{
		Product: c.Product, AccountID: c.AccountID, CustomerIdentifier: c.CustomerIdentifier,
		LicenseArn: c.LicenseArn, Status: metering.SubscriptionStatus(c.Status), PendingUntil: c.PendingUntil,
		OfferID: c.OfferID, FreeTrial: c.FreeTrial,
	}
	out.Entitlements = entitlementsIn(c.Entitlements)
	return out
}

func entitlementsIn(es []Entitlement) []metering.Entitlement {
	var out []metering.Entitlement
	for _, e := range es {
		out = append(out, metering.Entitlement{Dimension: e.Dimension, Value: metering.EntitlementValue(e.Value), Expires: e.Expires})
	}
	return out
}

func tokenOut(t metering.RegistrationToken) RegistrationToken {
	return RegistrationToken{Token: t.Token, Product: t.Product, AccountID: t.AccountID, ExpiresAt: t.ExpiresAt}
}

func notificationOut(n metering.Notification) Notification {
	out := Notification{
		ID: n.ID, ProductCode: n.ProductCode, URL: n.URL, Action: n.Action, Status: string(n.Status),
		Attempts: n.Attempts, LastError: n.LastError, CreatedAt: n.CreatedAt, NotBefore: n.NotBefore,
		DeliveredAt: n.DeliveredAt,
	}
	if n.Status == metering.DeliveryPending {
		out.NextAttempt = n.NextAttempt
	}
	if json.Valid(n.Body) {
		out.Body = n.Body
	}
	return out
}
