// Package audit is meterd's audit log, shaped like AWS CloudTrail: one Event
// per API call, data plane and admin API alike, with who called (account
// and access key), from where, with what parameters (secrets redacted), and
// what came back (the response, or the error code and message). Events are
// looked up newest first, LookupEvents-style, by time range, event name,
// account and error code, and streamed live to subscribers.
//
// Beside each metering call's event the log keeps the attempts the call
// refused, one per usage record (an Attempt), so that the record debugger
// can say for a customer, product and hour why usage is missing: a
// duplicate, a timestamp outside the window, a customer not subscribed.
//
// Writing is off the request path but not off its promise: Record only
// queues an event (and hands it to live subscribers), a writer goroutine
// stores what is queued in one transaction every FlushInterval, and every
// read (Lookup, Attempts) first waits until everything recorded before it
// is stored. So an event is visible as soon as its call has returned, and
// the audit log costs the store one commit per interval, not one per call.
// Durability is best-effort by design: a crash loses at most the events of
// the last interval, whereas usage records are durable before they are
// acknowledged. The log keeps events for a retention period (default 90
// days, as CloudTrail's event history) and prunes older ones periodically.
//
// The package imports only the standard library and the domain; stores
// implement Store, and MemStore serves stores that keep no audit tables.
package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event sources.
const (
	SourceMetering    = "metering.marketplace.amazonaws.com"
	SourceEntitlement = "entitlement.marketplace.amazonaws.com"
	SourceAdmin       = "meterd-admin"
)

// Event types.
const (
	TypeAPICall   = "AwsApiCall"      // a data-plane call
	TypeAdminCall = "MeterdAdminCall" // an admin API call
)

// Identity types of UserIdentity.
const (
	IdentityIAMUser     = "IAMUser"     // an access key without a workload
	IdentityAssumedRole = "AssumedRole" // a workload's key (instance, task, pod)
	IdentityUnknown     = "Unknown"     // the call did not authenticate
	IdentityAdmin       = "AdminToken"  // the admin API's bearer token
	IdentityAnonymous   = "Anonymous"   // an admin route served without a token
)

// Hidden replaces a secret in requestParameters and responseElements, as
// CloudTrail does.
const Hidden = "HIDDEN_DUE_TO_SECURITY_REASONS"

// EventVersion is the CloudTrail record version the events follow.
const EventVersion = "1.08"

// Event is one API call.
type Event struct {
	EventVersion      string          `json:"eventVersion"`
	EventTime         time.Time       `json:"eventTime"`
	EventSource       string          `json:"eventSource"`
	EventName         string          `json:"eventName"`
	AWSRegion         string          `json:"awsRegion"`
	SourceIPAddress   string          `json:"sourceIPAddress"`
	UserAgent         string          `json:"userAgent"`
	UserIdentity      UserIdentity    `json:"userIdentity"`
	RequestParameters json.RawMessage `json:"requestParameters"`
	ResponseElements  json.RawMessage `json:"responseElements"`
	ErrorCode         string          `json:"errorCode,omitempty"`
	ErrorMessage      string          `json:"errorMessage,omitempty"`
	RequestID         string          `json:"requestID"`
	EventID           string          `json:"eventID"`
	EventType         string          `json:"eventType"`
	ReadOnly          bool            `json:"readOnly"`

	// Seq orders events stored in the same millisecond; stores set it.
	Seq int64 `json:"-"`
}

// StoredJSON is e's JSON for a store. requestParameters and
// responseElements are JSON already (RedactJSON and Marshal made them) and
// go in as they are: encoding/json checks and compacts a RawMessage again,
// which cost 3% of the server's CPU under BatchMeterUsage load.
func (e *Event) StoredJSON() ([]byte, error) {
	bare := *e
	bare.RequestParameters, bare.ResponseElements = nil, nil
	b, err := json.Marshal(&bare)
	if err != nil {
		return nil, err
	}
	// Both members are null in b, once each: a string member cannot hold
	// these bytes, as its quotes would be escaped.
	for _, m := range []struct {
		name string
		raw  json.RawMessage
	}{{`"requestParameters":null`, e.RequestParameters}, {`"responseElements":null`, e.ResponseElements}} {
		if len(m.raw) == 0 {
			continue
		}
		i := bytes.Index(b, []byte(m.name))
		if i < 0 {
			return nil, fmt.Errorf("audit: no %s in the event's JSON", m.name)
		}
		at := i + len(m.name) - len("null")
		b = slices.Concat(b[:at], m.raw, b[at+len("null"):])
	}
	return b, nil
}

// UserIdentity is who made a call.
type UserIdentity struct {
	Type        string `json:"type"`
	AccountID   string `json:"accountId,omitempty"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
	// Resource is the workload a buyer's key stands for (an instance, a
	// task, a pod), which MeterUsage meters.
	Resource string `json:"resource,omitempty"`
}

// Filter selects events. Empty fields match anything.
type Filter struct {
	StartTime, EndTime time.Time // inclusive, as LookupEvents; zero: open
	EventName          string
	EventSource        string
	Account            string // userIdentity.accountId
	AccessKeyID        string
	ErrorCode          string
	MaxResults         int    // 1..MaxResults; 0: MaxResults
	NextToken          string // from the previous Page
}

// MaxResults is the most events one page holds, as in LookupEvents.
const MaxResults = 50

// Page is one page of events, newest first.
type Page struct {
	Events    []Event
	NextToken string // empty on the last page
}

// Cursor is where a page ends: the last event's time and Seq.
type Cursor struct {
	TimeMS int64
	Seq    int64
}

// ErrBadToken is returned for a NextToken this log did not issue.
var ErrBadToken = errors.New("audit: NextToken is not valid")

// Encode returns the cursor as an opaque NextToken.
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.TimeMS, 10) + "." + strconv.FormatInt(c.Seq, 10)))
}

// ParseToken reads a NextToken; "" is the first page.
func ParseToken(s string) (Cursor, bool, error) {
	if s == "" {
		return Cursor{}, false, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, false, ErrBadToken
	}
	t, q, ok := strings.Cut(string(b), ".")
	if !ok {
		return Cursor{}, false, ErrBadToken
	}
	var c Cursor
	if c.TimeMS, err = strconv.ParseInt(t, 10, 64); err != nil {
		return Cursor{}, false, ErrBadToken
	}
	if c.Seq, err = strconv.ParseInt(q, 10, 64); err != nil {
		return Cursor{}, false, ErrBadToken
	}
	return c, true, nil
}

// After reports whether an event at (timeMS, seq) comes after the cursor in
// newest-first order, that is, is older.
func (c Cursor) After(timeMS, seq int64) bool {
	return timeMS < c.TimeMS || (timeMS == c.TimeMS && seq < c.Seq)
}

// Normalize checks f and fills its defaults.
func (f *Filter) Normalize() error {
	switch {
	case f.MaxResults == 0:
		f.MaxResults = MaxResults
	case f.MaxResults < 1 || f.MaxResults > MaxResults:
		return fmt.Errorf("max_results %d is not between 1 and %d", f.MaxResults, MaxResults)
	}
	if !f.StartTime.IsZero() && !f.EndTime.IsZero() && f.EndTime.Before(f.StartTime) {
		return fmt.Errorf("end_time %s is before start_time %s", f.EndTime.Format(time.RFC3339), f.StartTime.Format(time.RFC3339))
	}
	if _, _, err := ParseToken(f.NextToken); err != nil {
		return err
	}
	return nil
}

// Match reports whether e passes f's conditions, the cursor aside.
func (f *Filter) Match(e *Event) bool {
	ms := e.EventTime.UnixMilli()
	return (f.StartTime.IsZero() || ms >= f.StartTime.UnixMilli()) &&
		(f.EndTime.IsZero() || ms <= f.EndTime.UnixMilli()) &&
		(f.EventName == "" || e.EventName == f.EventName) &&
		(f.EventSource == "" || e.EventSource == f.EventSource) &&
		(f.Account == "" || e.UserIdentity.AccountID == f.Account) &&
		(f.AccessKeyID == "" || e.UserIdentity.AccessKeyID == f.AccessKeyID) &&
		(f.ErrorCode == "" || e.ErrorCode == f.ErrorCode)
}

// Store keeps events and attempts.
type Store interface {
	// AppendAudit stores events and attempts in one transaction. It sets
	// nothing in them; Seq is assigned as they are stored.
	AppendAudit(ctx context.Context, events []Event, attempts []Attempt) error
	// LookupEvents returns the page of events that match f (normalized),
	// newest first: by EventTime to the millisecond, then by Seq.
	LookupEvents(ctx context.Context, f Filter) (Page, error)
	// Attempts returns the attempts that match f, oldest first.
	Attempts(ctx context.Context, f AttemptFilter) ([]Attempt, error)
	// PruneAudit deletes events and attempts older than before and returns
	// how many it deleted.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
}
