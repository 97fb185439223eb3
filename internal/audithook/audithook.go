// Package audithook feeds the audit log from the data plane: it is the
// awsapi.Hooks that turns every call into an audit.Event (CloudTrail's
// shape, secrets redacted) and every usage record a metering call did not
// store into an audit.Attempt with its reason in words, for the record
// debugger.
//
// It runs in After, once the answer is written, and only queues: the audit
// log stores in the background. Hold keeps the data plane's answers in
// memory until After has run, so that a client never sees an answer whose
// event a lookup could still miss.
package audithook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/awsapi"
	"github.com/meterd/meterd/internal/awsproto"
	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/rpcv2"
)

// Options are the hook's dependencies.
type Options struct {
	Log     *audit.Log
	Service *metering.Service // catalog and time windows, for reasons
	Clock   metering.Clock    // the metering rules' clock; default system
}

// Hooks records data-plane calls. It refuses nothing.
type Hooks struct {
	log   *audit.Log
	svc   *metering.Service
	clock metering.Clock
}

var _ awsapi.Hooks = (*Hooks)(nil)

// New returns the hook.
func New(o Options) *Hooks {
	if o.Clock == nil {
		o.Clock = metering.SystemClock{}
	}
	return &Hooks{log: o.Log, svc: o.Service, clock: o.Clock}
}

// Before allows every call.
func (h *Hooks) Before(context.Context, *awsapi.Call) error { return nil }

// After records the call and the records it did not store.
func (h *Hooks) After(_ context.Context, c *awsapi.Call) {
	now := h.clock.Now()
	ev, resp := h.Event(c, now)
	h.log.Record(ev, h.Attempts(c, now, resp))
}

// readOnly operations change nothing.
var readOnly = map[string]bool{"GetEntitlements": true, "ResolveCustomer": true}

// Event builds the call's audit event. It also returns the response as
// JSON, which Attempts reads for BatchMeterUsage's per-record statuses.
func (h *Hooks) Event(c *awsapi.Call, now time.Time) (audit.Event, []byte) {
	name := eventName(c)
	ev := audit.Event{
		EventVersion:    audit.EventVersion,
		EventTime:       now, // CloudTrail: when the request completed
		EventSource:     source(c.Target),
		EventName:       name,
		AWSRegion:       c.Region,
		SourceIPAddress: c.SourceIP,
		UserAgent:       clip(c.UserAgent, 512),
		UserIdentity:    h.identity(c),
		ErrorCode:       c.ErrorCode,
		ErrorMessage:    c.ErrorMessage,
		RequestID:       c.RequestID,
		EventID:         uuid.NewString(),
		EventType:       audit.TypeAPICall,
		ReadOnly:        readOnly[name],
	}
	if ev.AWSRegion == "" {
		ev.AWSRegion = h.svc.Config().Region
	}
	ev.RequestParameters = requestParameters(c)
	var resp []byte
	if c.ErrorCode == "" && c.Response != nil {
		if bo, ok := c.Response.(awsapi.BatchOutcomes); ok {
			ev.ResponseElements = batchElements(bo)
			return ev, nil
		}
		resp, _ = json.Marshal(c.Response)
		ev.ResponseElements = audit.RedactJSON(resp)
	}
	return ev, resp
}

// batchSummary is a BatchMeterUsage event's responseElements: CloudTrail
// records responseElements selectively, and echoing every UsageRecord of
// the answer would store each request twice. The records themselves are
// in requestParameters; the records not stored are attempts.
type batchSummary struct {
	Results           int            `json:"Results"`            // how many
	Statuses          map[string]int `json:"Statuses"`           // Results by Status
	MeteringRecordIDs []string       `json:"MeteringRecordIds"`  // of Results, in order
	Unprocessed       int            `json:"UnprocessedRecords"` // how many
}

// batchElements summarises a BatchMeterUsage answer. It holds no secrets:
// statuses, counts and record ids.
func batchElements(bo awsapi.BatchOutcomes) json.RawMessage {
	results, unprocessed := bo.Outcomes()
	s := batchSummary{
		Results:           len(results),
		Statuses:          make(map[string]int, 1),
		MeteringRecordIDs: make([]string, 0, len(results)),
		Unprocessed:       len(unprocessed),
	}
	for _, r := range results {
		s.Statuses[r.Status]++
		if r.MeteringRecordID != "" {
			s.MeteringRecordIDs = append(s.MeteringRecordIDs, r.MeteringRecordID)
		}
	}
	return audit.Marshal(s)
}

// eventName is the operation, or for targets meterd does not serve the
// operation the client named, cut to a safe form.
func eventName(c *awsapi.Call) string {
	if c.Operation != "" && c.Operation != "unknown" {
		return c.Operation
	}
	name := c.Target[strings.LastIndexByte(c.Target, '.')+1:]
	name = strings.Map(func(r rune) rune {
		if r < 128 && (r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, name)
	if name == "" {
		return "Unknown"
	}
	return clip(name, 64)
}

func source(target string) string {
	if strings.HasPrefix(target, awsapi.EntitlementPrefix) {
		return audit.SourceEntitlement
	}
	return audit.SourceMetering
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (h *Hooks) identity(c *awsapi.Call) audit.UserIdentity {
	if c.AccessKeyID == "" {
		return audit.UserIdentity{Type: audit.IdentityUnknown}
	}
	id := audit.UserIdentity{Type: audit.IdentityIAMUser, AccountID: c.AccountID, AccessKeyID: c.AccessKeyID}
	if k, ok := h.svc.Catalog().AccessKey(c.AccessKeyID); ok && k.Resource != "" {
		id.Type, id.Resource = audit.IdentityAssumedRole, k.Resource
	}
	return id
}

// getEntitlementsCBOR mirrors GetEntitlements' request members, for
// reading a CBOR body: rpcv2 reads the same tags as encoding/json.
type getEntitlementsCBOR struct {
	ProductCode *string             `json:"ProductCode,omitempty"`
	Filter      map[string][]string `json:"Filter,omitempty"`
	NextToken   *string             `json:"NextToken,omitempty"`
	MaxResults  *int64              `json:"MaxResults,omitempty"`
}

// requestParameters is the body as JSON with its secrets (ResolveCustomer's
// RegistrationToken) hidden; nil when it cannot be read.
func requestParameters(c *awsapi.Call) json.RawMessage {
	if len(c.Body) == 0 {
		return nil
	}
	if c.Protocol != "rpcv2Cbor" {
		if c.BodyDecoded {
			return audit.RedactValidJSON(c.Body)
		}
		return audit.RedactJSON(c.Body)
	}
	if c.Operation != "GetEntitlements" {
		return nil
	}
	var req getEntitlementsCBOR
	if rpcv2.Unmarshal(c.Body, &req) != nil {
		return nil
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil
	}
	return audit.RedactJSON(b)
}

// Hold returns next with its answers held in memory until it returns: the
// data plane's After hooks run before ServeHTTP returns but after the
// answer is written, and an answer larger than net/http's buffer would
// otherwise reach the client first. Answers are small (a BatchMeterUsage
// answer is a few KB), so holding costs a copy.
func Hold(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hw := &holdWriter{w: w}
		next.ServeHTTP(hw, r)
		hw.release()
	})
}

type holdWriter struct {
	w      http.ResponseWriter
	status int
	body   []byte
}

func (h *holdWriter) Header() http.Header { return h.w.Header() }

func (h *holdWriter) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *holdWriter) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	h.body = append(h.body, b...)
	return len(b), nil
}

func (h *holdWriter) release() {
	if h.status == 0 {
		return
	}
	h.w.WriteHeader(h.status)
	h.w.Write(h.body)
}

// Parsing the metering operations' bodies again, leniently: what matters
// here is what the client meant, for the debugger.

type meterUsageBody struct {
	ProductCode    *string             `json:"ProductCode"`
	Timestamp      *awsproto.Timestamp `json:"Timestamp"`
	UsageDimension *string             `json:"UsageDimension"`
	UsageQuantity  *awsproto.Integer   `json:"UsageQuantity"`
}

type usageRecordBody struct {
	Timestamp            *awsproto.Timestamp `json:"Timestamp"`
	CustomerIdentifier   *string             `json:"CustomerIdentifier"`
	Dimension            *string             `json:"Dimension"`
	Quantity             *awsproto.Integer   `json:"Quantity"`
	CustomerAWSAccountID *string             `json:"CustomerAWSAccountId"`
	LicenseArn           *string             `json:"LicenseArn"`
}

type batchBody struct {
	UsageRecords []usageRecordBody `json:"UsageRecords"`
	ProductCode  *string           `json:"ProductCode"`
}

type batchResponse struct {
	Results []struct {
		UsageRecord      usageRecordBody `json:"UsageRecord"`
		MeteringRecordID string          `json:"MeteringRecordId"`
		Status           string          `json:"Status"`
	} `json:"Results"`
	UnprocessedRecords []usageRecordBody `json:"UnprocessedRecords"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func quantity(q *awsproto.Integer) int64 {
	if p := q.Int64(); p != nil {
		return *p
	}
	return 0
}

func timestamp(t *awsproto.Timestamp) time.Time {
	if p := t.TimePtr(); p != nil {
		return p.UTC()
	}
	return time.Time{}
}

// Statuses of attempts that are not error codes.
const (
	StatusUnprocessed = "Unprocessed"
)

// Attempts returns the usage records c did not store, with reasons. resp
// is the response as JSON (nil on errors).
func (h *Hooks) Attempts(c *awsapi.Call, now time.Time, resp []byte) []audit.Attempt {
	if c.Protocol != "awsJson1_1" || len(c.Body) == 0 {
		return nil
	}
	switch c.Operation {
	case "MeterUsage":
		if c.ErrorCode == "" {
			return nil
		}
		return h.meterUsageAttempt(c, now)
	case "BatchMeterUsage":
		return h.batchAttempts(c, now, resp)
	}
	return nil
}

var recordRef = regexp.MustCompile(`\(record ([^)\s]+)\)`)

func (h *Hooks) meterUsageAttempt(c *awsapi.Call, now time.Time) []audit.Attempt {
	var req meterUsageBody
	if awsproto.Decode(c.Body, &req) != nil || str(req.ProductCode) == "" || c.AccountID == "" {
		return nil
	}
	a := h.attempt(c, now, str(req.ProductCode), timestamp(req.Timestamp))
	a.Dimension, a.Quantity = str(req.UsageDimension), quantity(req.UsageQuantity)
	a.CustomerAccountID = c.AccountID
	cat := h.svc.Catalog()
	cu, found := cat.CustomerByAccount(a.ProductCode, c.AccountID)
	if found {
		a.CustomerIdentifier, a.LicenseArn = cu.CustomerIdentifier, cu.LicenseArn
	}
	a.Status = c.ErrorCode
	cfg := h.svc.Config()
	switch c.ErrorCode {
	case "TimestampOutOfBoundsException":
		a.Reason = windowReason(a.Timestamp, now, cfg.MeterUsageWindow, cfg.FutureSkew, c.ErrorMessage)
	case "CustomerNotEntitledException":
		a.Reason = subscriptionReason(cu, found, a.ProductCode, "account "+c.AccountID, now)
	case audit.StatusDuplicateRequest:
		if m := recordRef.FindStringSubmatch(c.ErrorMessage); m != nil {
			a.RecordID = m[1]
			a.Reason = "duplicate of record " + m[1] + " with a different quantity or allocation"
		} else {
			a.Reason = c.ErrorMessage
		}
	case "DryRunOperation":
		a.Reason = "dry run: the record would have been accepted, but DryRun was set"
	default:
		a.Reason = orCode(c.ErrorMessage, c.ErrorCode)
	}
	return []audit.Attempt{a}
}

func orCode(message, code string) string {
	if message == "" {
		return code
	}
	return message
}

// attempt fills what every attempt of c has.
func (h *Hooks) attempt(c *awsapi.Call, now time.Time, product string, ts time.Time) audit.Attempt {
	hour := ts
	if hour.IsZero() {
		hour = now
	}
	return audit.Attempt{
		Time:        now.UTC(),
		Operation:   c.Operation,
		RequestID:   c.RequestID,
		ProductCode: product,
		Timestamp:   ts,
		Hour:        hour.UTC().Truncate(time.Hour),
	}
}

var recordIndex = regexp.MustCompile(`^Usage record (\d+): ?`)

func (h *Hooks) batchAttempts(c *awsapi.Call, now time.Time, resp []byte) []audit.Attempt {
	var results []awsapi.RecordOutcome
	var unprocessed []int
	bo, outcomes := c.Response.(awsapi.BatchOutcomes)
	if c.ErrorCode == "" && outcomes {
		results, unprocessed = bo.Outcomes()
		if allSuccess(results) && len(unprocessed) == 0 {
			return nil // stored records explain themselves: no body to read
		}
	}
	var req batchBody
	if awsproto.Decode(c.Body, &req) != nil {
		return nil
	}
	cfg := h.svc.Config()
	if c.ErrorCode != "" {
		// The whole call was refused: every record with it.
		offender, detail := 0, c.ErrorMessage
		if m := recordIndex.FindStringSubmatch(c.ErrorMessage); m != nil {
			offender, _ = strconv.Atoi(m[1])
			detail = c.ErrorMessage[len(m[0]):]
		}
		var out []audit.Attempt
		for i, r := range req.UsageRecords {
			a, ok := h.batchAttempt(c, now, str(req.ProductCode), r)
			if !ok {
				continue
			}
			a.Index, a.Status = i+1, c.ErrorCode
			switch {
			case offender == i+1 && c.ErrorCode == "TimestampOutOfBoundsException":
				a.Reason = windowReason(a.Timestamp, now, cfg.BatchWindow, cfg.FutureSkew, detail)
			case offender == i+1:
				a.Reason = orCode(detail, c.ErrorCode)
			case offender > 0:
				a.Reason = fmt.Sprintf("refused with its batch because of usage record %d: %s", offender, orCode(detail, c.ErrorCode))
			default:
				a.Reason = "refused with its batch: " + orCode(detail, c.ErrorCode)
			}
			out = append(out, a)
		}
		return out
	}
	if outcomes {
		return h.outcomeAttempts(c, now, req, results, unprocessed)
	}
	var res batchResponse
	if json.Unmarshal(resp, &res) != nil {
		return nil
	}
	used := make([]bool, len(req.UsageRecords))
	index := func(r usageRecordBody) int { // the record's 1-based position in the request
		want, _ := json.Marshal(r)
		for i, q := range req.UsageRecords {
			if got, _ := json.Marshal(q); !used[i] && string(got) == string(want) {
				used[i] = true
				return i + 1
			}
		}
		return 0
	}
	var out []audit.Attempt
	for _, r := range res.Results {
		idx := index(r.UsageRecord)
		if r.Status == string(metering.StatusSuccess) {
			continue
		}
		a, ok := h.batchAttempt(c, now, str(req.ProductCode), r.UsageRecord)
		if !ok {
			continue
		}
		a.Index = idx
		h.recordStatus(&a, r.Status, now)
		out = append(out, a)
	}
	for _, r := range res.UnprocessedRecords {
		idx := index(r)
		a, ok := h.batchAttempt(c, now, str(req.ProductCode), r)
		if !ok {
			continue
		}
		a.Index = idx
		h.recordStatus(&a, StatusUnprocessed, now)
		out = append(out, a)
	}
	return out
}

// outcomeAttempts builds the attempts of a BatchMeterUsage answer from its
// outcomes, which say where each record was in the request, without
// encoding the answer or matching records by their JSON.
func (h *Hooks) outcomeAttempts(c *awsapi.Call, now time.Time, req batchBody, results []awsapi.RecordOutcome, unprocessed []int) []audit.Attempt {
	var out []audit.Attempt
	add := func(pos int, status string) {
		if pos < 0 || pos >= len(req.UsageRecords) {
			return
		}
		a, ok := h.batchAttempt(c, now, str(req.ProductCode), req.UsageRecords[pos])
		if !ok {
			return
		}
		a.Index = pos + 1
		h.recordStatus(&a, status, now)
		out = append(out, a)
	}
	for _, r := range results {
		if r.Status != string(metering.StatusSuccess) {
			add(r.Index, r.Status)
		}
	}
	for _, pos := range unprocessed {
		add(pos, StatusUnprocessed)
	}
	return out
}

func allSuccess(results []awsapi.RecordOutcome) bool {
	for _, r := range results {
		if r.Status != string(metering.StatusSuccess) {
			return false
		}
	}
	return true
}

// recordStatus sets a BatchMeterUsage record's status other than Success
// and its reason.
func (h *Hooks) recordStatus(a *audit.Attempt, status string, now time.Time) {
	a.Status = status
	switch status {
	case string(metering.StatusCustomerNotSubscribed):
		cu, found := h.customer(*a)
		who := "account " + a.CustomerAccountID
		if a.CustomerAccountID == "" {
			who = "customer identifier " + a.CustomerIdentifier
		}
		a.Reason = subscriptionReason(cu, found, a.ProductCode, who, now)
	case audit.StatusDuplicateRecord:
		a.Reason = "duplicate of a record already stored for this customer, dimension and hour with a different quantity or allocation"
	case StatusUnprocessed:
		a.Reason = "returned in UnprocessedRecords and not stored: the client should send it again"
	default:
		a.Reason = status
	}
}

// batchAttempt builds the attempt of one usage record, its customer
// completed from the catalog; ok is false when it names no product.
func (h *Hooks) batchAttempt(c *awsapi.Call, now time.Time, product string, r usageRecordBody) (audit.Attempt, bool) {
	cat := h.svc.Catalog()
	a := audit.Attempt{
		CustomerAccountID:  str(r.CustomerAWSAccountID),
		CustomerIdentifier: str(r.CustomerIdentifier),
		LicenseArn:         str(r.LicenseArn),
		ByLicense:          str(r.LicenseArn) != "",
	}
	if a.ByLicense {
		if cu, ok := cat.CustomerByLicense(a.LicenseArn); ok {
			product = cu.Product
			a.CustomerAccountID, a.CustomerIdentifier = cu.AccountID, cu.CustomerIdentifier
		}
	}
	if product == "" {
		return audit.Attempt{}, false
	}
	base := h.attempt(c, now, product, timestamp(r.Timestamp))
	base.CustomerAccountID, base.CustomerIdentifier, base.LicenseArn, base.ByLicense =
		a.CustomerAccountID, a.CustomerIdentifier, a.LicenseArn, a.ByLicense
	base.Dimension, base.Quantity = str(r.Dimension), quantity(r.Quantity)
	if cu, ok := h.customer(base); ok {
		if base.CustomerAccountID == "" {
			base.CustomerAccountID = cu.AccountID
		}
		if base.CustomerIdentifier == "" {
			base.CustomerIdentifier = cu.CustomerIdentifier
		}
		if base.LicenseArn == "" {
			base.LicenseArn = cu.LicenseArn
		}
	}
	return base, true
}

// customer finds the agreement an attempt names.
func (h *Hooks) customer(a audit.Attempt) (metering.Customer, bool) {
	cat := h.svc.Catalog()
	switch {
	case a.ByLicense:
		return cat.CustomerByLicense(a.LicenseArn)
	case a.CustomerAccountID != "":
		return cat.CustomerByAccount(a.ProductCode, a.CustomerAccountID)
	case a.CustomerIdentifier != "":
		return cat.CustomerByIdentifier(a.ProductCode, a.CustomerIdentifier)
	}
	return metering.Customer{}, false
}

// windowReason says by how much a timestamp missed its window.
func windowReason(ts, now time.Time, window, skew time.Duration, message string) string {
	if ts.IsZero() {
		return message
	}
	f := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch {
	case ts.After(now.Add(skew)):
		return fmt.Sprintf("in the future by %s (timestamp %s, server time %s; %s of clock skew allowed)",
			ts.Sub(now).Round(time.Second), f(ts), f(now), skew)
	case ts.Before(now.Add(-window)):
		return fmt.Sprintf("outside the %s window by %s (timestamp %s, server time %s)",
			window, now.Add(-window).Sub(ts).Round(time.Second), f(ts), f(now))
	case strings.Contains(message, "previous month"):
		return "in the previous month, which was closed: " + message
	}
	return message
}

// subscriptionReason says why a customer could not be metered.
func subscriptionReason(c metering.Customer, found bool, product, who string, now time.Time) string {
	if !found {
		return fmt.Sprintf("not subscribed: %s has no agreement for product %s", who, product)
	}
	since := c.PendingUntil
	switch {
	case c.Status == metering.StatusUnsubscribed && !since.IsZero():
		return fmt.Sprintf("not subscribed since %s (status %s)", since.UTC().Format(time.RFC3339), c.Status)
	case c.Status == metering.StatusUnsubscribePending && !since.IsZero() && !now.Before(since):
		return fmt.Sprintf("not subscribed since %s (the unsubscribe window ended)", since.UTC().Format(time.RFC3339))
	case c.Status == metering.StatusSubscribeFail:
		return "not subscribed: the subscription failed (status subscribe-fail)"
	case c.Status == metering.StatusSubscribed:
		return "not subscribed when the call was served (subscribed now)"
	}
	return fmt.Sprintf("not subscribed (status %s)", c.Status)
}
