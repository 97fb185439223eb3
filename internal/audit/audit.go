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
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/jsonappend"
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

// StoredJSON is e's JSON for a store: what json.Marshal gives for e,
// but that requestParameters and responseElements, JSON already (RedactJSON
// and Marshal made them), go in as they are, where encoding/json would
// check and compact them again. It is written by hand: encoding/json's
// reflection was about 3% of the server's CPU under MeterUsage load, one
// event a call. TestStoredJSON checks it against encoding/json.
func (e *Event) StoredJSON() ([]byte, error) {
	b := make([]byte, 0, 512+len(e.RequestParameters)+len(e.ResponseElements))
	b = append(b, `{"eventVersion":`...)
	b = jsonappend.String(b, e.EventVersion)
	b = append(b, `,"eventTime":`...)
	if y := e.EventTime.Year(); y < 0 || y > 9999 {
		t, err := json.Marshal(e.EventTime) // the error encoding/json gives
		if err != nil {
			return nil, err
		}
		b = append(b, t...)
	} else {
		b = append(b, '"')
		b = e.EventTime.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	for _, m := range []struct{ name, v string }{
		{`,"eventSource":`, e.EventSource}, {`,"eventName":`, e.EventName}, {`,"awsRegion":`, e.AWSRegion},
		{`,"sourceIPAddress":`, e.SourceIPAddress}, {`,"userAgent":`, e.UserAgent},
	} {
		b = append(b, m.name...)
		b = jsonappend.String(b, m.v)
	}
	b = append(b, `,"userIdentity":{"type":`...)
	b = jsonappend.String(b, e.UserIdentity.Type)
	for _, m := range []struct{ name, v string }{
		{`,"accountId":`, e.UserIdentity.AccountID}, {`,"accessKeyId":`, e.UserIdentity.AccessKeyID}, {`,"resource":`, e.UserIdentity.Resource},
	} {
		if m.v != "" {
			b = append(b, m.name...)
			b = jsonappend.String(b, m.v)
		}
	}
	b = append(b, '}')
	for _, m := range []struct {
		name string
		raw  json.RawMessage
	}{{`,"requestParameters":`, e.RequestParameters}, {`,"responseElements":`, e.ResponseElements}} {
		b = append(b, m.name...)
		if len(m.raw) == 0 {
			b = append(b, "null"...)
		} else {
			b = append(b, m.raw...)
		}
	}
	for _, m := range []struct{ name, v string }{{`,"errorCode":`, e.ErrorCode}, {`,"errorMessage":`, e.ErrorMessage}} {
		if m.v != "" {
			b = append(b, m.name...)
			b = jsonappend.String(b, m.v)
		}
	}
	for _, m := range []struct{ name, v string }{{`,"requestID":`, e.RequestID}, {`,"eventID":`, e.EventID}, {`,"eventType":`, e.EventType}} {
		b = append(b, m.name...)
		b = jsonappend.String(b, m.v)
	}
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, e.ReadOnly)
	return append(b, '}'), nil
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
