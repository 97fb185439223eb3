// Package metering holds meterd's domain: the accounts, products, customers and
// usage records of AWS Marketplace metering, and the rules AWS documents for
// them (validation, time windows, idempotency and duplicate detection).
//
// It imports only the standard library. Storage, the AWS wire protocol and the
// command line are adapters around it: they call Service and implement Store,
// so that every backend and every front end obeys the same rules.
package metering

import (
	"context"
	"time"
)

// Platform is where a buyer's workload runs. It decides how MeterUsage keys
// its idempotency (AgentCore meters by ClientToken, everything else by hour).
type Platform string

// Platforms a workload can run on.
const (
	PlatformEC2       Platform = "ec2"
	PlatformECS       Platform = "ecs"
	PlatformEKS       Platform = "eks"
	PlatformFargate   Platform = "fargate"
	PlatformAgentCore Platform = "agentcore"
)

// Valid reports whether p is a known platform.
func (p Platform) Valid() bool {
	switch p {
	case PlatformEC2, PlatformECS, PlatformEKS, PlatformFargate, PlatformAgentCore:
		return true
	}
	return false
}

// ProductType is how a product is delivered; it decides which metering
// operation applies (BatchMeterUsage for SaaS, MeterUsage for the rest).
type ProductType string

// Product types.
const (
	ProductSaaS      ProductType = "saas"
	ProductAMI       ProductType = "ami"
	ProductContainer ProductType = "container"
)

// Valid reports whether t is a known product type.
func (t ProductType) Valid() bool {
	return t == ProductSaaS || t == ProductAMI || t == ProductContainer
}

// AgreementMode says which customer identities BatchMeterUsage accepts for a
// product: legacy (ProductCode + CustomerIdentifier or CustomerAWSAccountId),
// concurrent (per-record LicenseArn + CustomerAWSAccountId) or both.
type AgreementMode string

// Agreement modes.
const (
	AgreementsLegacy     AgreementMode = "legacy"
	AgreementsConcurrent AgreementMode = "concurrent"
	AgreementsBoth       AgreementMode = "both"
)

// Valid reports whether m is a known mode.
func (m AgreementMode) Valid() bool {
	return m == AgreementsLegacy || m == AgreementsConcurrent || m == AgreementsBoth
}

// AcceptsLegacy reports whether records may be identified by ProductCode.
func (m AgreementMode) AcceptsLegacy() bool { return m != AgreementsConcurrent }

// AcceptsConcurrent reports whether records may be identified by LicenseArn.
func (m AgreementMode) AcceptsConcurrent() bool { return m != AgreementsLegacy }

// SubscriptionStatus is the state of a buyer's agreement for a product.
type SubscriptionStatus string

// Subscription states, named as in AWS's SNS subscription messages.
const (
	StatusSubscribed         SubscriptionStatus = "subscribed"
	StatusUnsubscribePending SubscriptionStatus = "unsubscribe-pending"
	StatusUnsubscribed       SubscriptionStatus = "unsubscribed"
	StatusSubscribeFail      SubscriptionStatus = "subscribe-fail"
)

// Valid reports whether s is a known status.
func (s SubscriptionStatus) Valid() bool {
	switch s {
	case StatusSubscribed, StatusUnsubscribePending, StatusUnsubscribed, StatusSubscribeFail:
		return true
	}
	return false
}

// Account is an AWS account, seller or buyer.
type Account struct {
	ID         string
	Name       string
	AccessKeys []AccessKey
}

// AccessKey is a SigV4 credential that acts as an account. A buyer's key may
// also stand for one workload (an EC2 instance, ECS task or EKS pod), which
// is the identity MeterUsage deduplicates on.
type AccessKey struct {
	ID        string
	Secret    string
	AccountID string
	Resource  string
	Platform  Platform
}

// Workload returns the identity MeterUsage keys records on: the key's
// resource, or the account itself when the key names none.
func (k AccessKey) Workload() string {
	if k.Resource != "" {
		return k.Resource
	}
	return "account/" + k.AccountID
}

// Product is a Marketplace listing owned by a seller account.
type Product struct {
	Code              string
	Seller            string
	Type              ProductType
	Dimensions        []string
	Agreements        AgreementMode
	PublicKeyVersions []int
	// FulfillmentURL receives the buyer's registration token when the
	// buyer subscribes, as the buyer's browser posts it on AWS.
	FulfillmentURL string
	// Webhooks receive the product's subscription and entitlement
	// notifications in SNS's message format.
	Webhooks []string
}

// HasDimension reports whether d is one of the product's dimensions.
func (p Product) HasDimension(d string) bool {
	for _, x := range p.Dimensions {
		if x == d {
			return true
		}
	}
	return false
}

// Customer is one buyer's agreement for one product.
type Customer struct {
	Product            string
	AccountID          string
	CustomerIdentifier string
	LicenseArn         string
	Status             SubscriptionStatus
	Entitlements       []Entitlement
	// PendingUntil ends an unsubscribe-pending window: metering is accepted
	// before it and refused after. Zero: no end set.
	PendingUntil time.Time
	OfferID      string
	FreeTrial    bool
}

// ActiveAt reports whether usage may be metered at now. AWS accepts final
// metering while an unsubscribe is pending (docs/aws-api.md 7.9).
func (c Customer) ActiveAt(now time.Time) bool {
	switch c.Status {
	case StatusSubscribed:
		return true
	case StatusUnsubscribePending:
		return c.PendingUntil.IsZero() || now.Before(c.PendingUntil)
	}
	return false
}

// Entitlement is what GetEntitlements returns for a customer and dimension.
type Entitlement struct {
	Dimension string
	Value     EntitlementValue
	Expires   time.Time // zero: no expiry
}

// EntitlementValue holds exactly one of its members.
type EntitlementValue struct {
	Integer *int64
	Double  *float64
	Boolean *bool
	String  *string
}

// RegistrationToken is what a buyer's browser posts to a SaaS fulfillment URL;
// ResolveCustomer turns it back into the customer.
type RegistrationToken struct {
	Token     string
	Product   string
	AccountID string
	ExpiresAt time.Time
}

// State is meterd's reference data: everything a state file can say.
type State struct {
	Region             string
	Accounts           []Account
	Products           []Product
	Customers          []Customer
	RegistrationTokens []RegistrationToken
}

// Tag is a usage allocation tag.
type Tag struct {
	Key   string
	Value string
}

// Allocation splits part of a record's quantity onto a tag set. No tags is
// the untagged bucket.
type Allocation struct {
	Quantity int64
	Tags     []Tag
}

// IdentityKind says how a stored record names its customer. AWS keeps
// ProductCode and LicenseArn identities apart for duplicate detection.
type IdentityKind string

// Identity kinds.
const (
	IdentityWorkload IdentityKind = "workload" // MeterUsage
	IdentityProduct  IdentityKind = "product"  // BatchMeterUsage with ProductCode
	IdentityLicense  IdentityKind = "license"  // BatchMeterUsage with LicenseArn
)

// Record is one stored usage record.
type Record struct {
	ID          string // MeteringRecordId
	Key         string // idempotency key: at most one record per key
	Fingerprint string // what must match for a repeat to be the same record
	Operation   string // MeterUsage or BatchMeterUsage

	Seller             string
	ProductCode        string
	Identity           IdentityKind
	CustomerAccountID  string
	CustomerIdentifier string
	LicenseArn         string
	Resource           string

	CallerAccountID string
	AccessKeyID     string
	ClientToken     string

	Dimension   string
	Timestamp   time.Time
	Quantity    int64
	Allocations []Allocation
	CreatedAt   time.Time
}

// UsageFilter selects records for UsageSummary. Empty fields match anything.
type UsageFilter struct {
	ProductCode string
	Customer    string // account id, customer identifier or license ARN
	Dimension   string
	From, To    time.Time // hour range [From, To); zero means open
}

// UsageRow is the usage of one customer on one dimension in one hour.
type UsageRow struct {
	ProductCode        string
	CustomerAccountID  string
	CustomerIdentifier string
	LicenseArn         string
	Dimension          string
	Hour               time.Time
	Quantity           int64
	Records            int64
}

// Store persists reference data and usage records. It holds no rules: the
// Service decides what to store, the Store makes it durable.
type Store interface {
	// ApplyState inserts or replaces the entities named in st, in one
	// transaction. Entities st does not name are kept.
	ApplyState(ctx context.Context, st State) error
	// LoadState returns all reference data.
	LoadState(ctx context.Context) (State, error)
	// PutRecords stores every record whose Key is not stored yet and returns,
	// position by position, the record stored under each Key: the given one
	// when it is new, the earlier one otherwise (also when an earlier record
	// in the same call took the Key). It returns only after the new records
	// are durably committed; on error nothing of this call is stored.
	// Concurrent calls behave as if run one after another.
	PutRecords(ctx context.Context, recs []Record) ([]Record, error)
	// UsageSummary sums stored usage by product, customer, dimension and hour.
	UsageSummary(ctx context.Context, f UsageFilter) ([]UsageRow, error)
	// Close releases the store; pending PutRecords calls finish first.
	Close() error
}

// Clock tells the time. Rules about time windows take it injected so that
// tests can move it.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }
