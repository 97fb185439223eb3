package adminapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/audit"
)

// UsageQuery asks for a usage report; zero fields take the server's
// defaults (window hour, tz UTC, to the end of the current hour, from a
// day, a month or a year before to).
type UsageQuery struct {
	From, To  time.Time
	Window    string   // hour, day or month
	TZ        string   // IANA time zone
	GroupBy   []string // product, customer, license, dimension, tag
	Product   string
	Customer  string // account id, customer identifier or license ARN
	Dimension string
	Tag       string // key=value
}

func (q UsageQuery) values(format string) url.Values {
	v := values("window", q.Window, "tz", q.TZ, "group_by", groupList(q.GroupBy),
		"product", q.Product, "customer", q.Customer, "dimension", q.Dimension, "tag", q.Tag, "format", format)
	if !q.From.IsZero() {
		v.Set("from", q.From.Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.Format(time.RFC3339))
	}
	return v
}

// UsageReport returns a usage report.
func (c *Client) UsageReport(ctx context.Context, q UsageQuery) (UsageReport, error) {
	var out UsageReport
	return out, c.do(ctx, "GET", Prefix+"/reports/usage", q.values(""), nil, &out)
}

// UsageReportCSV returns a usage report as CSV.
func (c *Client) UsageReportCSV(ctx context.Context, q UsageQuery) ([]byte, error) {
	var out []byte
	return out, c.do(ctx, "GET", Prefix+"/reports/usage", q.values("csv"), nil, &out)
}

// DailyUsage returns the daily usage export of a UTC date (YYYY-MM-DD;
// "" for yesterday).
func (c *Client) DailyUsage(ctx context.Context, date string) (DailyUsage, error) {
	var out DailyUsage
	return out, c.do(ctx, "GET", Prefix+"/reports/daily-usage", values("date", date), nil, &out)
}

// DailyUsageCSV returns the daily usage export as CSV.
func (c *Client) DailyUsageCSV(ctx context.Context, date string) ([]byte, error) {
	var out []byte
	return out, c.do(ctx, "GET", Prefix+"/reports/daily-usage", values("date", date, "format", "csv"), nil, &out)
}

// AuditFilter selects audit events; zero fields match anything.
type AuditFilter struct {
	StartTime, EndTime time.Time
	EventName          string
	EventSource        string
	Account            string
	AccessKeyID        string
	ErrorCode          string
	MaxResults         int
	NextToken          string
}

func (f AuditFilter) values() url.Values {
	v := values("event_name", f.EventName, "event_source", f.EventSource, "account", f.Account,
		"access_key_id", f.AccessKeyID, "error_code", f.ErrorCode, "next_token", f.NextToken)
	if !f.StartTime.IsZero() {
		v.Set("start_time", f.StartTime.Format(time.RFC3339Nano))
	}
	if !f.EndTime.IsZero() {
		v.Set("end_time", f.EndTime.Format(time.RFC3339Nano))
	}
	if f.MaxResults > 0 {
		v.Set("max_results", strconv.Itoa(f.MaxResults))
	}
	return v
}

// AuditEvents returns one page of audit events, newest first.
func (c *Client) AuditEvents(ctx context.Context, f AuditFilter) (AuditEvents, error) {
	var out AuditEvents
	return out, c.do(ctx, "GET", Prefix+"/audit/events", f.values(), nil, &out)
}

// DebugRecords returns the records and refused attempts of a customer's
// usage of a product in the UTC hour holding hour.
func (c *Client) DebugRecords(ctx context.Context, product, customer string, hour time.Time) (DebugRecords, error) {
	var out DebugRecords
	q := values("product", product, "customer", customer, "hour", hour.UTC().Format(time.RFC3339))
	return out, c.do(ctx, "GET", Prefix+"/debug/records", q, nil, &out)
}

// StreamEvents follows the live audit stream, calling fn for each event
// that passes f (time range and paging aside), until ctx ends, fn returns
// an error or the server closes the stream. It does not use c.HTTP's
// timeout, which would cut the stream.
func (c *Client) StreamEvents(ctx context.Context, f AuditFilter, fn func(audit.Event) error) error {
	f.StartTime, f.EndTime, f.MaxResults, f.NextToken = time.Time{}, time.Time{}, 0, ""
	u := strings.TrimSuffix(c.Endpoint, "/") + Prefix + "/events/stream"
	if q := f.values(); len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := http.Client{}
	if c.HTTP != nil {
		hc.Transport = c.HTTP.Transport
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var env struct{ Error *Error }
		if json.NewDecoder(resp.Body).Decode(&env) == nil && env.Error != nil {
			env.Error.Status = resp.StatusCode
			return env.Error
		}
		return fmt.Errorf("GET %s: HTTP %d", Prefix+"/events/stream", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var ev audit.Event
		if err := json.Unmarshal([]byte(data), &ev); err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return sc.Err()
}
