package adminapi

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/reports"
)

// The seller-visibility routes: usage reports (this file), the audit log
// and its live stream (audit.go) and the record debugger (debug.go). They
// only read, and every call to the admin API is itself audited.

// Visibility is what the visibility routes read. A nil field makes its
// routes answer 501.
type Visibility struct {
	Reports *reports.Service
	Audit   *audit.Log
	Records RecordLister
}

func visibilityRoutes() []route {
	return []route{
		{"GET", Prefix + "/reports/usage", (*Server).getUsageReport, false},
		{"GET", Prefix + "/reports/daily-usage", (*Server).getDailyUsage, false},
		{"GET", Prefix + "/audit/events", (*Server).lookupEvents, false},
		{"GET", Prefix + "/events/stream", (*Server).streamEvents, false},
		{"GET", Prefix + "/debug/records", (*Server).debugRecords, false},
	}
}

func unavailable(what string) error {
	return errorf(http.StatusNotImplemented, CodeUnavailable, "This meterd serves no %s.", what)
}

func badParam(name, format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: CodeValidation, Message: "The query is not valid.",
		Problems: []Problem{{Path: name, Message: fmt.Sprintf(format, args...)}}}
}

// UsageReport is the answer of GET /reports/usage.
type UsageReport struct {
	Window  string     `json:"window"`
	TZ      string     `json:"tz"`
	From    time.Time  `json:"from"`
	To      time.Time  `json:"to"`
	GroupBy []string   `json:"group_by"`
	Rows    []UsageRow `json:"rows"`
}

// UsageRow is one window of one group. Only the keys the report groups by
// are present; a present key may be "" (no license, untagged usage).
type UsageRow struct {
	WindowStart time.Time `json:"window_start"`
	ProductCode *string   `json:"product_code,omitempty"`
	Customer    *string   `json:"customer,omitempty"`
	LicenseArn  *string   `json:"license_arn,omitempty"`
	Dimension   *string   `json:"dimension,omitempty"`
	Tag         *string   `json:"tag,omitempty"`
	Quantity    int64     `json:"quantity"`
	Records     int64     `json:"records"`
}

// csvFormat reads ?format=: json (default) or csv.
func csvFormat(q url.Values) (bool, error) {
	switch f := q.Get("format"); f {
	case "", "json":
		return false, nil
	case "csv":
		return true, nil
	default:
		return false, badParam("format", "%q is not json or csv", f)
	}
}

func parseTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, badParam(name, "%q is not an RFC 3339 time such as 2026-11-23T05:00:00Z", v)
	}
	return t, nil
}

// defaultSpan is how far back a report without from reaches.
var defaultSpan = map[reports.Window]func(time.Time) time.Time{
	reports.Hour:  func(t time.Time) time.Time { return t.Add(-24 * time.Hour) },
	reports.Day:   func(t time.Time) time.Time { return t.AddDate(0, 0, -30) },
	reports.Month: func(t time.Time) time.Time { return t.AddDate(-1, 0, 0) },
}

func (s *Server) getUsageReport(w http.ResponseWriter, r *http.Request) error {
	rs := s.o.Visibility.Reports
	if rs == nil {
		return unavailable("usage reports")
	}
	q := r.URL.Query()
	asCSV, err := csvFormat(q)
	if err != nil {
		return err
	}
	rq := reports.Query{
		Window:      reports.Window(q.Get("window")),
		ProductCode: q.Get("product"),
		Customer:    q.Get("customer"),
		Dimension:   q.Get("dimension"),
		Tag:         q.Get("tag"),
	}
	if rq.Window == "" {
		rq.Window = reports.Hour
	}
	span, ok := defaultSpan[rq.Window]
	if !ok {
		return badParam("window", "%q is not hour, day or month", rq.Window)
	}
	tz := q.Get("tz")
	if tz == "" {
		tz = "UTC"
	}
	if tz == "Local" {
		return badParam("tz", "name an IANA time zone, such as America/New_York, not Local")
	}
	if rq.Location, err = time.LoadLocation(tz); err != nil {
		return badParam("tz", "%q is not an IANA time zone name", tz)
	}
	if rq.GroupBy, err = reports.ParseGroup(q.Get("group_by")); err != nil {
		return badParam("group_by", "%v", err)
	}
	if rq.From, err = parseTime(q, "from"); err != nil {
		return err
	}
	if rq.To, err = parseTime(q, "to"); err != nil {
		return err
	}
	if rq.To.IsZero() {
		rq.To = s.now().Truncate(time.Hour).Add(time.Hour) // through the current hour
	}
	if rq.From.IsZero() {
		rq.From = span(rq.To)
	}
	rows, err := rs.Usage(r.Context(), rq)
	if err != nil {
		var qe *reports.QueryError
		if errors.As(err, &qe) {
			return errorf(http.StatusBadRequest, CodeValidation, "%s", qe.Message)
		}
		return err
	}
	rep := UsageReport{
		Window: string(rq.Window), TZ: rq.Location.String(),
		From: rq.From.In(rq.Location), To: rq.To.In(rq.Location),
		GroupBy: []string{}, Rows: make([]UsageRow, len(rows)),
	}
	g := rq.GroupBy
	for _, k := range reports.Keys {
		if g.Has(k) {
			rep.GroupBy = append(rep.GroupBy, string(k))
		}
	}
	opt := func(on bool, v string) *string {
		if !on {
			return nil
		}
		return &v
	}
	for i, x := range rows {
		rep.Rows[i] = UsageRow{
			WindowStart: x.WindowStart,
			ProductCode: opt(g.Product, x.ProductCode),
			Customer:    opt(g.Customer, x.CustomerAccountID),
			LicenseArn:  opt(g.License, x.LicenseArn),
			Dimension:   opt(g.Dimension, x.Dimension),
			Tag:         opt(g.Tag, x.Tag),
			Quantity:    x.Quantity,
			Records:     x.Records,
		}
	}
	if !asCSV {
		return writeJSON(w, http.StatusOK, rep)
	}
	header := []string{"window_start"}
	for _, k := range reports.Keys {
		if g.Has(k) {
			header = append(header, csvColumn[k])
		}
	}
	header = append(header, "quantity", "records")
	name := fmt.Sprintf("usage-%s-%s.csv", rq.Window, rq.From.In(rq.Location).Format("20060102T1504"))
	return writeCSV(w, name, header, func(yield func([]string) error) error {
		for _, x := range rep.Rows {
			rec := []string{x.WindowStart.Format(time.RFC3339)}
			for _, v := range []*string{x.ProductCode, x.Customer, x.LicenseArn, x.Dimension, x.Tag} {
				if v != nil {
					rec = append(rec, *v)
				}
			}
			rec = append(rec, strconv.FormatInt(x.Quantity, 10), strconv.FormatInt(x.Records, 10))
			if err := yield(rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// csvColumn names each key's column as the JSON rows do.
var csvColumn = map[reports.Key]string{
	reports.KeyProduct:   "product_code",
	reports.KeyCustomer:  "customer",
	reports.KeyLicense:   "license_arn",
	reports.KeyDimension: "dimension",
	reports.KeyTag:       "tag",
}

// writeCSV answers text/csv (RFC 4180, CRLF line ends) as a download.
func writeCSV(w http.ResponseWriter, filename string, header []string, rows func(yield func([]string) error) error) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(header); err != nil {
		return err
	}
	if err := rows(cw.Write); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// DailyUsage is the JSON answer of GET /reports/daily-usage: the rows of
// the CSV export, each a map from column to cell.
type DailyUsage struct {
	Date    string              `json:"date"`
	Columns []string            `json:"columns"`
	Rows    []map[string]string `json:"rows"`
}

func (s *Server) getDailyUsage(w http.ResponseWriter, r *http.Request) error {
	rs := s.o.Visibility.Reports
	if rs == nil {
		return unavailable("usage reports")
	}
	q := r.URL.Query()
	asCSV, err := csvFormat(q)
	if err != nil {
		return err
	}
	var day time.Time
	if v := q.Get("date"); v != "" {
		if day, err = time.Parse(time.DateOnly, v); err != nil {
			return badParam("date", "%q is not a date such as 2026-11-23", v)
		}
	} else {
		y, m, d := s.now().UTC().AddDate(0, 0, -1).Date() // yesterday, as AWS's feed
		day = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	svc := s.o.Service
	rows, err := rs.DailyFeed(r.Context(), day, svc.Catalog(), svc.Config().Region, s.now())
	if err != nil {
		return err
	}
	date := day.Format(time.DateOnly)
	if asCSV {
		return writeCSV(w, "daily-usage-"+date+".csv", reports.FeedColumns, func(yield func([]string) error) error {
			for _, x := range rows {
				if err := yield(x.Values()); err != nil {
					return err
				}
			}
			return nil
		})
	}
	out := DailyUsage{Date: date, Columns: reports.FeedColumns, Rows: make([]map[string]string, len(rows))}
	for i, x := range rows {
		out.Rows[i] = x.Map()
	}
	return writeJSON(w, http.StatusOK, out)
}

// groupList is a comma-separated list of keys for ?group_by=.
func groupList(keys []string) string { return strings.Join(keys, ",") }
