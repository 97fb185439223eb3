package metering

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Notification is one message for one webhook, kept in a durable outbox
// until it is delivered or given up on.
type Notification struct {
	ID          string
	ProductCode string
	URL         string
	Action      string // subscribe-success, unsubscribe-pending, entitlement-updated, …
	Body        []byte // the SNS envelope, as POSTed
	CreatedAt   time.Time
	NotBefore   time.Time // not delivered before this time

	Status      DeliveryStatus
	Attempts    int
	NextAttempt time.Time
	LastError   string
	DeliveredAt time.Time
}

// DeliveryStatus is where a notification stands.
type DeliveryStatus string

// Delivery states.
const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed" // retries exhausted
)

// NotificationFilter selects notifications; empty fields match anything.
type NotificationFilter struct {
	ProductCode string
	Status      DeliveryStatus
	Limit       int // 0: 100
}

// Outbox is the durable queue notifications are delivered from.
type Outbox interface {
	Enqueue(ctx context.Context, ns []Notification) error
	// ClaimDue returns up to limit pending notifications due at now and
	// hides them from other claimers until now+lease, so that replicas do
	// not deliver one message twice at once.
	ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Notification, error)
	// Record stores the outcome of a delivery attempt: n's Status,
	// Attempts, NextAttempt, LastError and DeliveredAt.
	Record(ctx context.Context, n Notification) error
	Notifications(ctx context.Context, f NotificationFilter) ([]Notification, error)
}

// SNS topics of AWS Marketplace live in us-east-1, account 287250355862
// (docs/aws-api.md 7.9).
const snsTopicPrefix = "arn:aws:sns:us-east-1:287250355862:aws-mp-"

// Notification actions.
const (
	ActionSubscribeSuccess    = "subscribe-success"
	ActionSubscribeFail       = "subscribe-fail"
	ActionUnsubscribePending  = "unsubscribe-pending"
	ActionUnsubscribeSuccess  = "unsubscribe-success"
	ActionEntitlementUpdated  = "entitlement-updated"
	subscriptionTopicSuffix   = "subscription-notification-"
	entitlementTopicSuffix    = "entitlement-notification-"
	snsTimestampLayout        = "2006-01-02T15:04:05.000Z"
	defaultUnsubscribePending = time.Hour
)

// notifications renders one message per webhook of the product in the SNS
// JSON envelope, Message being itself a JSON string.
func (s *Service) notifications(p Product, c Customer, action string, notBefore time.Time) []Notification {
	if len(p.Webhooks) == 0 {
		return nil
	}
	msg := map[string]string{"action": action, "customer-identifier": c.CustomerIdentifier, "product-code": p.Code}
	topic := snsTopicPrefix + subscriptionTopicSuffix + p.Code
	if action == ActionEntitlementUpdated {
		topic = snsTopicPrefix + entitlementTopicSuffix + p.Code
	} else {
		msg["offer-identifier"] = c.OfferID
		msg["isFreeTrialTermPresent"] = fmt.Sprint(c.FreeTrial) // a string, as AWS sends it
	}
	// SNS carries no LicenseArn; meterd adds the account so that Concurrent
	// Agreements customers, who have no identifier, can be told apart.
	msg["customer-aws-account-id"] = c.AccountID
	inner, _ := json.Marshal(msg)
	now := s.clock.Now().UTC()
	if notBefore.IsZero() {
		notBefore = now
	}
	var out []Notification
	for _, url := range p.Webhooks {
		id := s.newID()
		body, _ := json.Marshal(map[string]string{
			"Type":             "Notification",
			"MessageId":        id,
			"TopicArn":         topic,
			"Message":          string(inner),
			"Timestamp":        notBefore.UTC().Format(snsTimestampLayout),
			"SignatureVersion": "1",
		})
		out = append(out, Notification{
			ID: id, ProductCode: p.Code, URL: url, Action: action, Body: body,
			CreatedAt: now, NotBefore: notBefore, Status: DeliveryPending, NextAttempt: notBefore,
		})
	}
	return out
}

func (s *Service) enqueue(ctx context.Context, ns []Notification) error {
	if len(ns) == 0 {
		return nil
	}
	if s.outbox == nil {
		return Errorf(KindUnavailable, "This store keeps no notification outbox.")
	}
	return s.outbox.Enqueue(ctx, ns)
}

// SubscribeInput is a simulated buyer subscribing to a product.
type SubscribeInput struct {
	ProductCode        string
	AccountID          string
	CustomerIdentifier string // legacy identity; generated when empty
	OfferID            string
	FreeTrial          bool
	TokenTTL           time.Duration // default 4h
}

// SubscribeOutput is the new agreement and the token the buyer's browser
// takes to the seller's fulfillment URL.
type SubscribeOutput struct {
	Customer       Customer
	Token          RegistrationToken
	FulfillmentURL string
}

// Subscribe does what AWS does when a buyer accepts an offer: it creates
// the agreement (a LicenseArn) and a registration token, and notifies the
// product's webhooks (subscribe-success). Posting the token to the
// fulfillment URL is the caller's part: it is the buyer's browser's.
func (s *Service) Subscribe(ctx context.Context, in SubscribeInput) (SubscribeOutput, error) {
	cat := s.Catalog()
	p, ok := cat.Product(in.ProductCode)
	if !ok {
		return SubscribeOutput{}, Errorf(KindInvalidProductCode, "Product %s does not exist.", quote(in.ProductCode))
	}
	if !reAccountID.MatchString(in.AccountID) {
		return SubscribeOutput{}, Errorf(KindValidation, "Account id %s must be 12 digits.", quote(in.AccountID))
	}
	c, exists := cat.CustomerByAccount(p.Code, in.AccountID)
	if !exists {
		c = Customer{Product: p.Code, AccountID: in.AccountID}
	}
	c.Status, c.PendingUntil = StatusSubscribed, time.Time{}
	c.FreeTrial = in.FreeTrial
	if in.OfferID != "" {
		c.OfferID = in.OfferID
	} else if c.OfferID == "" {
		c.OfferID = "offer-" + randomHex(12)
	}
	if c.LicenseArn == "" {
		c.LicenseArn = "arn:aws:license-manager::" + in.AccountID + ":license:l-" + randomHex(16)
	}
	if in.CustomerIdentifier != "" {
		c.CustomerIdentifier = in.CustomerIdentifier
	} else if c.CustomerIdentifier == "" && p.Agreements.AcceptsLegacy() {
		c.CustomerIdentifier = randomToken(8)
	}
	ttl := in.TokenTTL
	if ttl <= 0 {
		ttl = 4 * time.Hour
	}
	now := s.clock.Now()
	// Tokens hold +, / and =, as AWS's do (7.8): fulfillment pages must
	// URL-decode them.
	tok := RegistrationToken{Token: randomToken(50), Product: p.Code, AccountID: in.AccountID, ExpiresAt: now.Add(ttl)}
	if err := s.ApplyState(ctx, State{Customers: []Customer{c}, RegistrationTokens: []RegistrationToken{tok}}); err != nil {
		return SubscribeOutput{}, err
	}
	c, _ = s.Catalog().CustomerByAccount(p.Code, in.AccountID)
	if err := s.enqueue(ctx, s.notifications(p, c, ActionSubscribeSuccess, time.Time{})); err != nil {
		return SubscribeOutput{}, err
	}
	return SubscribeOutput{Customer: c, Token: tok, FulfillmentURL: p.FulfillmentURL}, nil
}

// Unsubscribe starts a buyer's unsubscribe: unsubscribe-pending now,
// unsubscribe-success when the window ends. Metering is accepted inside the
// window and refused after it. A window of 0 uses the default of one hour.
func (s *Service) Unsubscribe(ctx context.Context, product, account string, window time.Duration) (Customer, error) {
	cat := s.Catalog()
	p, ok := cat.Product(product)
	if !ok {
		return Customer{}, Errorf(KindInvalidProductCode, "Product %s does not exist.", quote(product))
	}
	c, ok := cat.CustomerByAccount(product, account)
	if !ok || !c.ActiveAt(s.clock.Now()) {
		return Customer{}, Errorf(KindCustomerNotEntitled, "Account %s has no active agreement for product %s.", account, product)
	}
	if window <= 0 {
		window = s.cfg.UnsubscribeWindow
	}
	now := s.clock.Now()
	c.Status, c.PendingUntil = StatusUnsubscribePending, now.Add(window)
	if err := s.ApplyState(ctx, State{Customers: []Customer{c}}); err != nil {
		return Customer{}, err
	}
	ns := s.notifications(p, c, ActionUnsubscribePending, time.Time{})
	ns = append(ns, s.notifications(p, c, ActionUnsubscribeSuccess, c.PendingUntil)...)
	return c, s.enqueue(ctx, ns)
}

// Notifications lists the outbox, for the admin API.
func (s *Service) Notifications(ctx context.Context, f NotificationFilter) ([]Notification, error) {
	if s.outbox == nil {
		return nil, nil
	}
	return s.outbox.Notifications(ctx, f)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
