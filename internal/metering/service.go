package metering

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Config holds the rules that AWS has changed over time, so that a user can
// pick the documentation era they test against.
type Config struct {
	// Region is the region this meterd serves. Default us-east-1.
	Region string
	// MeterUsageWindow is how far in the past a MeterUsage timestamp may be.
	// AWS documents 6 hours.
	MeterUsageWindow time.Duration
	// BatchWindow is how far in the past a BatchMeterUsage timestamp may be.
	// AWS documents 24 hours since 2026-07 (6 hours before).
	BatchWindow time.Duration
	// MonthEndCutoff is how long into a month last month's batch records are
	// still accepted. AWS documents 06:00 UTC on the 1st. Negative: no cut-off.
	MonthEndCutoff time.Duration
	// FutureSkew is how far in the future a timestamp may be. AWS documents
	// nothing; meterd allows small clock skew only [inferred, docs/aws-api.md 7.3].
	FutureSkew time.Duration
	// UnsubscribeWindow is how long an unsubscribe stays pending, metering
	// still accepted. The Seller Guide speaks of about an hour.
	UnsubscribeWindow time.Duration
}

// DefaultConfig returns AWS's currently documented values.
func DefaultConfig() Config {
	return Config{
		Region:            "us-east-1",
		MeterUsageWindow:  6 * time.Hour,
		BatchWindow:       24 * time.Hour,
		MonthEndCutoff:    6 * time.Hour,
		FutureSkew:        5 * time.Minute,
		UnsubscribeWindow: defaultUnsubscribePending,
	}
}

// Service applies the metering rules. It is safe for concurrent use.
type Service struct {
	store Store
	clock Clock
	cfg   Config
	newID func() string
	// recordID gives a record its MeteringRecordId from its key.
	recordID func(key string) string
	catalog  atomic.Pointer[Catalog]
	version  atomic.Int64 // StateVersion the catalog was loaded at
	applyMu  sync.Mutex

	signer        RegistrationSigner
	registrations RegistrationStore
	outbox        Outbox
}

// Options are the Service's injected dependencies.
type Options struct {
	Store Store
	Clock Clock // default SystemClock
	// NewID, if set, generates MeteringRecordIds (and other ids) instead
	// of the default: RecordID of the record's key for records, a random
	// UUID for notifications.
	NewID func() string
	// Signer and Registrations serve RegisterUsage; without them it
	// answers that it is unavailable.
	Signer        RegistrationSigner
	Registrations RegistrationStore
	// Outbox keeps webhook notifications; without it none are sent.
	Outbox Outbox
}

// NewService loads the reference data from the store.
func NewService(ctx context.Context, opts Options, cfg Config) (*Service, error) {
	def := DefaultConfig()
	if cfg.Region == "" {
		cfg.Region = def.Region
	}
	if cfg.MeterUsageWindow == 0 {
		cfg.MeterUsageWindow = def.MeterUsageWindow
	}
	if cfg.BatchWindow == 0 {
		cfg.BatchWindow = def.BatchWindow
	}
	if cfg.MonthEndCutoff == 0 {
		cfg.MonthEndCutoff = def.MonthEndCutoff
	}
	if cfg.FutureSkew == 0 {
		cfg.FutureSkew = def.FutureSkew
	}
	if cfg.UnsubscribeWindow == 0 {
		cfg.UnsubscribeWindow = def.UnsubscribeWindow
	}
	s := &Service{store: opts.Store, clock: opts.Clock, cfg: cfg, newID: opts.NewID, signer: opts.Signer, registrations: opts.Registrations, outbox: opts.Outbox}
	if s.clock == nil {
		s.clock = SystemClock{}
	}
	s.recordID = RecordID
	if s.newID == nil {
		s.newID = randomUUID
	} else {
		s.recordID = func(string) string { return s.newID() }
	}
	if err := s.reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// StateVersioner is a store whose reference data carries a version that
// every ApplyState bumps, so replicas can tell when to reload.
type StateVersioner interface {
	StateVersion(ctx context.Context) (int64, error)
}

// RefreshIfChanged reloads the catalog when another process (a replica, or
// the admin API of another meterd on the same database) applied state.
// It costs one small read when nothing changed.
func (s *Service) RefreshIfChanged(ctx context.Context) error {
	sv, ok := s.store.(StateVersioner)
	if !ok {
		return nil
	}
	v, err := sv.StateVersion(ctx)
	if err != nil || v == s.version.Load() {
		return err
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	return s.reload(ctx)
}

func (s *Service) reload(ctx context.Context) error {
	// The version is read before the state: a change in between is caught
	// by the next refresh instead of being missed.
	if sv, ok := s.store.(StateVersioner); ok {
		v, err := sv.StateVersion(ctx)
		if err != nil {
			return fmt.Errorf("load state version: %w", err)
		}
		s.version.Store(v)
	}
	st, err := s.store.LoadState(ctx)
	if err != nil {
		return fmt.Errorf("load state: %w", err)
	}
	s.catalog.Store(NewCatalog(st))
	return nil
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// Catalog returns the current reference data.
func (s *Service) Catalog() *Catalog { return s.catalog.Load() }

// Normalize fills the documented defaults of a state (platform ec2,
// agreements both, status subscribed).
func Normalize(st *State) {
	for i := range st.Accounts {
		for j := range st.Accounts[i].AccessKeys {
			k := &st.Accounts[i].AccessKeys[j]
			k.AccountID = st.Accounts[i].ID
			if k.Platform == "" {
				k.Platform = PlatformEC2
			}
		}
	}
	for i := range st.Products {
		if st.Products[i].Agreements == "" {
			st.Products[i].Agreements = AgreementsBoth
		}
	}
	for i := range st.Customers {
		if st.Customers[i].Status == "" {
			st.Customers[i].Status = StatusSubscribed
		}
	}
}

// ApplyState validates st against the known reference data and stores it
// whole, or not at all.
func (s *Service) ApplyState(ctx context.Context, st State) error {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	Normalize(&st)
	before := s.Catalog()
	if err := Check(st, before); err != nil {
		return err
	}
	// A changed entitlement of an existing customer is announced, as AWS
	// sends entitlement-updated; new customers get subscribe-success instead.
	// The changes are found before the reload, so that st, which may name a
	// million customers, need not be kept beside the reloaded catalog.
	type customerKey struct{ product, account string }
	var changed []customerKey
	for i := range st.Customers {
		c := &st.Customers[i]
		old, existed := before.CustomerByAccount(c.Product, c.AccountID)
		if existed && !sameEntitlements(old.Entitlements, c.Entitlements) {
			changed = append(changed, customerKey{c.Product, c.AccountID})
		}
	}
	if err := s.store.ApplyState(ctx, st); err != nil {
		return fmt.Errorf("apply state: %w", err)
	}
	st = State{}
	if err := s.reload(ctx); err != nil {
		return err
	}
	after := s.Catalog()
	var ns []Notification
	for _, k := range changed {
		p, _ := after.Product(k.product)
		cu, _ := after.CustomerByAccount(k.product, k.account)
		ns = append(ns, s.notifications(p, cu, ActionEntitlementUpdated, time.Time{})...)
	}
	if s.outbox == nil || len(ns) == 0 {
		return nil
	}
	return s.outbox.Enqueue(ctx, ns)
}

func sameEntitlements(a, b []Entitlement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Dimension != y.Dimension || !x.Expires.Equal(y.Expires) || !sameValue(x.Value, y.Value) {
			return false
		}
	}
	return true
}

func sameValue(a, b EntitlementValue) bool {
	eq := func(x, y any) bool { return fmt.Sprint(x) == fmt.Sprint(y) }
	deref := func(v EntitlementValue) [4]any {
		var out [4]any
		if v.Integer != nil {
			out[0] = *v.Integer
		}
		if v.Double != nil {
			out[1] = *v.Double
		}
		if v.Boolean != nil {
			out[2] = *v.Boolean
		}
		if v.String != nil {
			out[3] = *v.String
		}
		return out
	}
	x, y := deref(a), deref(b)
	for i := range x {
		if !eq(x[i], y[i]) {
			return false
		}
	}
	return true
}

// Caller is an authenticated principal: an access key, the account it acts
// as and, for a buyer's workload, the resource it stands for.
type Caller struct {
	AccessKey AccessKey
	// Region is the region the request was signed for.
	Region string
}

// Secret returns the secret of an access key, for signature verification.
func (s *Service) Secret(accessKeyID string) (string, bool) {
	k, ok := s.Catalog().AccessKey(accessKeyID)
	return k.Secret, ok
}

// Caller returns the principal for an access key.
func (s *Service) Caller(accessKeyID, region string) (Caller, bool) {
	k, ok := s.Catalog().AccessKey(accessKeyID)
	return Caller{AccessKey: k, Region: region}, ok
}

// MeterUsageInput is a MeterUsage request as the client sent it.
type MeterUsageInput struct {
	ProductCode      *string
	Timestamp        *time.Time
	UsageDimension   *string
	UsageQuantity    *int64
	DryRun           *bool
	UsageAllocations []AllocationInput
	ClientToken      *string
}

// Validate checks the input against the model's constraints.
func (in *MeterUsageInput) Validate() error {
	var v violations
	v.str("productCode", in.ProductCode, true, ruleProductCode)
	if in.Timestamp == nil {
		v.add(false, "null", "timestamp", "must not be null")
	}
	v.str("usageDimension", in.UsageDimension, true, ruleDimension)
	v.quantity("usageQuantity", in.UsageQuantity, false)
	v.allocations("usageAllocations", in.UsageAllocations)
	v.str("clientToken", in.ClientToken, false, ruleClientToken)
	return v.err()
}

// MeterUsage records one workload's usage for one hour (or, on AgentCore,
// for one ClientToken) and returns its MeteringRecordId.
func (s *Service) MeterUsage(ctx context.Context, caller Caller, in MeterUsageInput) (string, error) {
	if err := in.Validate(); err != nil {
		return "", err
	}
	quantity := int64(0)
	if in.UsageQuantity != nil {
		quantity = *in.UsageQuantity
	}
	allocs, err := checkAllocations(in.UsageAllocations, quantity)
	if err != nil {
		return "", err
	}
	if caller.Region != s.cfg.Region {
		return "", Errorf(KindInvalidEndpointRegion, "The endpoint region %s does not match the region of the workload (%s).", caller.Region, s.cfg.Region)
	}
	cat := s.Catalog()
	// The product type does not restrict the operation: AWS documents no
	// error for MeterUsage on a SaaS product, and real clients' smoke tests
	// (wire-captures) meter one product both ways.
	product, ok := cat.Product(*in.ProductCode)
	if !ok {
		return "", Errorf(KindInvalidProductCode, "Product code %s does not exist.", quote(*in.ProductCode))
	}
	if !product.HasDimension(*in.UsageDimension) {
		return "", Errorf(KindInvalidUsageDimension, "Usage dimension %s is not defined for product %s.", quote(*in.UsageDimension), product.Code)
	}
	now := s.clock.Now()
	ts := in.Timestamp.UTC()
	if err := s.checkWindow(ts, now, s.cfg.MeterUsageWindow, false); err != nil {
		return "", err
	}
	key := caller.AccessKey
	customer, ok := cat.CustomerByAccount(product.Code, key.AccountID)
	if !ok || !customer.ActiveAt(now) {
		return "", Errorf(KindCustomerNotEntitled, "Account %s has no active agreement for product %s.", key.AccountID, product.Code)
	}
	if in.DryRun != nil && *in.DryRun {
		return "", Errorf(KindDryRun, "Request would have succeeded, but DryRun flag is set.")
	}

	rec := Record{
		Operation:         "MeterUsage",
		Seller:            product.Seller,
		ProductCode:       product.Code,
		Identity:          IdentityWorkload,
		CustomerAccountID: key.AccountID,
		LicenseArn:        customer.LicenseArn,
		Resource:          key.Workload(),
		CallerAccountID:   key.AccountID,
		AccessKeyID:       key.ID,
		Dimension:         *in.UsageDimension,
		Timestamp:         ts,
		Quantity:          quantity,
		Allocations:       allocs,
		CreatedAt:         now,
	}
	if in.ClientToken != nil {
		rec.ClientToken = *in.ClientToken
	}
	agentCore := key.Platform == PlatformAgentCore
	if agentCore {
		// AgentCore: idempotency by ClientToken, timestamp not rounded
		// (docs/aws-api.md 7.2). A call without a token is always new.
		token := rec.ClientToken
		if token == "" {
			token = "generated/" + s.newID()
		}
		rec.Key = AnyHourKey("mu-token", rec.Resource, product.Code, token)
		rec.Fingerprint = fingerprint(rec.Dimension, strconv.FormatInt(ts.UnixMilli(), 10), quantity, allocs)
	} else {
		// One record per workload, product, dimension and hour; the
		// ClientToken SDKs send does not make a repeat new (7.1).
		rec.Key = HourKey(ts, "mu-hour", rec.Resource, product.Code, rec.Dimension)
		rec.Fingerprint = fingerprint("", "", quantity, allocs)
	}
	rec.ID = s.recordID(rec.Key)

	stored, err := s.store.PutRecords(ctx, []Record{rec})
	if err != nil {
		return "", err
	}
	got := stored[0]
	switch {
	case got.Fingerprint == rec.Fingerprint: // this record, or an identical earlier one
		return got.ID, nil
	case agentCore:
		return "", Errorf(KindIdempotencyConflict, "ClientToken %s was already used with different parameters.", quote(rec.ClientToken))
	default:
		return "", Errorf(KindDuplicateRequest, "Usage for dimension %s of product %s in hour %s was already metered with a different quantity or allocation (record %s).",
			quote(rec.Dimension), product.Code, ts.Truncate(time.Hour).Format(time.RFC3339), got.ID)
	}
}

// checkWindow applies the documented time windows: not older than window,
// not in the future beyond skew and, for batches, not in last month once the
// month-end cut-off has passed.
func (s *Service) checkWindow(ts, now time.Time, window time.Duration, monthEnd bool) error {
	if ts.After(now.Add(s.cfg.FutureSkew)) {
		return Errorf(KindTimestampOutOfBounds, "Timestamp %s is in the future (now %s).", ts.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if ts.Before(now.Add(-window)) {
		return Errorf(KindTimestampOutOfBounds, "Timestamp %s is more than %s in the past (now %s).", ts.Format(time.RFC3339), window, now.UTC().Format(time.RFC3339))
	}
	if monthEnd && s.cfg.MonthEndCutoff >= 0 {
		u := now.UTC()
		monthStart := time.Date(u.Year(), u.Month(), 1, 0, 0, 0, 0, time.UTC)
		if ts.Before(monthStart) && !u.Before(monthStart.Add(s.cfg.MonthEndCutoff)) {
			return Errorf(KindTimestampOutOfBounds, "Timestamp %s is in the previous month, whose records were accepted until %s.", ts.Format(time.RFC3339), monthStart.Add(s.cfg.MonthEndCutoff).Format(time.RFC3339))
		}
	}
	return nil
}

// FingerprintSize is the length in bytes of the fingerprints the Service
// makes.
const FingerprintSize = 8

// fingerprint digests what must be equal for a repeat to count as the same
// record. Allocations compare as a set. It is the first FingerprintSize
// bytes of a SHA-256, raw, which stores keep as bytes: a fingerprint is
// only ever compared with the one stored under the same key, so 64 bits
// make a false match (a conflicting retry answered as the same record)
// a 2^-64 event per retry, and every stored record is 8 bytes smaller than
// with 16. meterd before kept 16 bytes hex-encoded; the stores'
// migrations keep their first 8.
func fingerprint(dimension, timestamp string, quantity int64, allocs []Allocation) string {
	// dimension, US, timestamp, US, quantity in decimal: what
	// fmt.Fprintf(h, "%s\x1f%s\x1f%d", ...) wrote before, appended here
	// without fmt, which cost most of the function. Stored fingerprints
	// depend on these bytes: TestFingerprintBytes pins them.
	var buf [96]byte
	b := append(buf[:0], dimension...)
	b = append(b, 0x1f)
	b = append(b, timestamp...)
	b = append(b, 0x1f)
	b = strconv.AppendInt(b, quantity, 10)
	if allocs == nil {
		sum := sha256.Sum256(b)
		return string(sum[:FingerprintSize])
	}
	h := sha256.New()
	h.Write(b)
	sets := make([]string, len(allocs))
	for i, a := range allocs {
		sets[i] = strconv.FormatInt(a.Quantity, 10) + "\x1d" + tagSetKey(a.Tags)
	}
	sort.Strings(sets)
	for _, s := range sets {
		h.Write([]byte{0x1c})
		h.Write([]byte(s))
	}
	var sum [sha256.Size]byte
	return string(h.Sum(sum[:0])[:FingerprintSize])
}

func randomUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}
