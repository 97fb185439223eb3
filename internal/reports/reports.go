// Package reports sums metered usage over hourly, daily or monthly windows
// in any IANA time zone, grouped by product, customer, license, dimension
// and allocation tag, for the admin API's usage reports and the daily usage
// export.
//
// The sums come from hourly rollups: a store that implements Store keeps,
// for every UTC hour, product, customer, license and dimension (and, apart,
// for every allocation tag), the quantity and the number of records, and
// updates them in the transaction that commits the records (SQLite with
// triggers, PostgreSQL in its group committer). A report then reads one row per hour and group instead of
// one per record, so that a month of hourly figures costs the same over ten
// thousand records as over ten million. A store without rollups is read
// through Summaries, which sums metering.Store.UsageSummary rows instead.
//
// Windows are made of whole UTC hours, because that is what the rollups
// keep. In zones whose offset from UTC is a whole number of hours (nearly
// all), day and month windows are exact, daylight saving time included: a
// day in America/New_York is 23, 24 or 25 hours. In zones with a half- or
// quarter-hour offset (Asia/Kolkata, Asia/Kathmandu), an hour counts in the
// day its start falls in, and hourly windows start at the UTC hour.
//
// The package sits beside the domain: it imports only metering and the
// standard library, and storage adapters implement its Store.
package reports

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Key is a column a report can group by.
type Key string

// Report keys.
const (
	KeyProduct   Key = "product"
	KeyCustomer  Key = "customer" // the customer's AWS account id
	KeyLicense   Key = "license"
	KeyDimension Key = "dimension"
	KeyTag       Key = "tag" // one "key=value" allocation tag; "" for untagged usage
)

// Keys lists the report keys in the order rows and CSV columns show them.
var Keys = []Key{KeyProduct, KeyCustomer, KeyLicense, KeyDimension, KeyTag}

// Window is the length of a report's time windows.
type Window string

// Windows.
const (
	Hour  Window = "hour"
	Day   Window = "day"
	Month Window = "month"
)

// MaxWindows caps the windows one report may span, so that a typo in a
// range cannot ask for millions of rows: about 13 months of hours.
const MaxWindows = 10000

// Group says which keys a query groups by.
type Group struct {
	Product, Customer, License, Dimension, Tag bool
}

// ParseGroup reads a comma-separated list of keys ("customer,dimension").
func ParseGroup(s string) (Group, error) {
	var g Group
	for _, k := range strings.Split(s, ",") {
		switch Key(strings.TrimSpace(k)) {
		case "":
		case KeyProduct:
			g.Product = true
		case KeyCustomer:
			g.Customer = true
		case KeyLicense:
			g.License = true
		case KeyDimension:
			g.Dimension = true
		case KeyTag:
			g.Tag = true
		default:
			return Group{}, fmt.Errorf("group_by: %q is not one of product, customer, license, dimension, tag", strings.TrimSpace(k))
		}
	}
	return g, nil
}

// Has reports whether g groups by k.
func (g Group) Has(k Key) bool {
	switch k {
	case KeyProduct:
		return g.Product
	case KeyCustomer:
		return g.Customer
	case KeyLicense:
		return g.License
	case KeyDimension:
		return g.Dimension
	case KeyTag:
		return g.Tag
	}
	return false
}

// String lists g's keys in Keys order, comma-separated.
func (g Group) String() string {
	var ks []string
	for _, k := range Keys {
		if g.Has(k) {
			ks = append(ks, string(k))
		}
	}
	return strings.Join(ks, ",")
}

// Query asks for a usage report.
type Query struct {
	// From and To bound the report: an hour counts when its start is in
	// [From, To). Both are required.
	From, To time.Time
	Window   Window
	Location *time.Location // windows are local to it; nil: UTC
	GroupBy  Group

	// Filters; empty matches anything.
	ProductCode string
	Customer    string // account id, customer identifier or license ARN
	Dimension   string
	Tag         string // "key=value"
}

// Row is the usage of one group in one window.
type Row struct {
	WindowStart time.Time // in the query's location

	// Set for the keys the query groups by.
	ProductCode       string
	CustomerAccountID string
	LicenseArn        string
	Dimension         string
	Tag               string

	Quantity int64 // with Tag grouping: the quantity allocated to the tag
	Records  int64 // records that contributed
}

// Bucketing says how a RollupQuery folds hours.
type Bucketing int

// Bucketings.
const (
	// ByHour keeps hours apart: a Sum's Bucket is the hour's Unix second.
	ByHour Bucketing = iota
	// ByLocalDay folds hours into local days: a Sum's Bucket is the number
	// of days from 1970-01-01 to the local date of the hour's start.
	ByLocalDay
)

// Span is a stretch of time in which a zone's UTC offset is constant.
type Span struct {
	Start  int64 // Unix second the offset applies from
	Offset int64 // seconds east of UTC
}

// RollupQuery is what a Store answers. Stores implement the bucketing in
// their query language; BucketOf is its definition.
type RollupQuery struct {
	From, To int64 // Unix seconds, whole hours: hours h with From <= h < To
	Bucket   Bucketing
	// Spans give the offsets for ByLocalDay, sorted by Start; the first
	// starts at or before From.
	Spans   []Span
	GroupBy Group

	ProductCode string
	Customer    string // matches account id, customer identifier or license ARN
	Dimension   string
	Tag         string
}

// BucketOf returns the bucket of the hour starting at Unix second hour.
func (q RollupQuery) BucketOf(hour int64) int64 {
	if q.Bucket == ByHour {
		return hour
	}
	return floorDiv(hour+q.OffsetAt(hour), 86400)
}

// OffsetAt returns the UTC offset in force at Unix second t.
func (q RollupQuery) OffsetAt(t int64) int64 {
	var off int64
	for _, s := range q.Spans {
		if s.Start > t {
			break
		}
		off = s.Offset
	}
	return off
}

func floorDiv(a, b int64) int64 {
	d := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		d--
	}
	return d
}

// Sum is one bucket of one group, as a Store returns it. Keys the query
// does not group by are empty.
type Sum struct {
	Bucket            int64
	ProductCode       string
	CustomerAccountID string
	LicenseArn        string
	Dimension         string
	Tag               string
	Quantity          int64
	Records           int64
}

// Store reads hourly usage rollups.
type Store interface {
	// UsageRollup sums the rollups of the hours in [q.From, q.To) that
	// match q's filters, by bucket and by the keys q groups by, and calls
	// fn once for each bucket and group, in any order. Streaming the sums
	// keeps a large report from holding them twice.
	UsageRollup(ctx context.Context, q RollupQuery, fn func(Sum)) error
}

// ErrQuery marks a query that cannot be answered as asked; the message
// says why.
var ErrQuery = errors.New("reports: bad query")

// QueryError is a query the caller must change.
type QueryError struct{ Message string }

func (e *QueryError) Error() string        { return e.Message }
func (e *QueryError) Is(target error) bool { return target == ErrQuery }

func queryErrorf(format string, args ...any) error {
	return &QueryError{Message: fmt.Sprintf(format, args...)}
}

// Service answers usage reports from a Store.
type Service struct {
	store Store
}

// New returns a Service reading store.
func New(store Store) *Service { return &Service{store: store} }

// Usage returns q's report: one row per window and group with any usage,
// ordered by window and then by the keys in Keys order.
func (s *Service) Usage(ctx context.Context, q Query) ([]Row, error) {
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	switch q.Window {
	case Hour, Day, Month:
	default:
		return nil, queryErrorf("window %q is not one of hour, day, month", q.Window)
	}
	if q.From.IsZero() || q.To.IsZero() {
		return nil, queryErrorf("from and to are both required")
	}
	if !q.From.Before(q.To) {
		return nil, queryErrorf("from %s is not before to %s", q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	from, to := ceilHour(q.From), ceilHour(q.To)
	n := windows(q.Window, time.Unix(from, 0).In(loc), time.Unix(to, 0).In(loc))
	if n > MaxWindows {
		return nil, queryErrorf("the range holds %d %s windows; at most %d are served: narrow the range or widen the window", n, q.Window, MaxWindows)
	}
	rq := RollupQuery{
		From: from, To: to, GroupBy: q.GroupBy,
		ProductCode: q.ProductCode, Customer: q.Customer, Dimension: q.Dimension, Tag: q.Tag,
	}
	if q.Window != Hour {
		rq.Bucket = ByLocalDay
		rq.Spans = Spans(loc, from, to)
	}
	if from == to {
		return []Row{}, nil
	}
	b := rowBuilder{window: q.Window, loc: loc, windows: int(n)}
	if err := s.store.UsageRollup(ctx, rq, b.add); err != nil {
		return nil, err
	}
	return b.finish(), nil
}

// ceilHour returns the Unix second of the first hour starting at or after t.
func ceilHour(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s + floorMod(-s, 3600)
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// windows counts the windows [from, to) touches.
func windows(w Window, from, to time.Time) int64 {
	switch w {
	case Hour:
		return (to.Unix() - from.Unix()) / 3600
	case Day:
		return (to.Unix()-from.Unix())/86400 + 2
	default:
		return int64((to.Year()-from.Year())*12+int(to.Month())-int(from.Month())) + 1
	}
}

// Spans returns the stretches of constant UTC offset that loc has in
// [from, to), Unix seconds.
func Spans(loc *time.Location, from, to int64) []Span {
	var out []Span
	t := time.Unix(from, 0).In(loc)
	for {
		_, off := t.Zone()
		out = append(out, Span{Start: t.Unix(), Offset: int64(off)})
		_, end := t.ZoneBounds()
		if end.IsZero() || end.Unix() >= to {
			return out
		}
		t = end.In(loc)
	}
}

// rowBuilder turns a store's sums into report rows: buckets become window
// starts and days fold into months. A store gives one sum per bucket and
// group, so only months need merging.
type rowBuilder struct {
	window Window
	loc    *time.Location
	out    []Row
	// windows is how many windows the range holds. When the first window's
	// rows are in, out grows at once to hold as many for every window:
	// growing by doubling copied a large report's rows several times.
	windows int
	grown   bool
	// Stores give a bucket's sums together: its start is worked out once.
	lastBucket int64
	lastStart  time.Time
	merged     map[rowKey]int      // months: the row of each window and group
	starts     map[int64]time.Time // local midnight (or month start) by day number
}

type rowKey struct {
	start                                int64
	product, customer, license, dim, tag string
}

func (b *rowBuilder) add(s Sum) {
	var start time.Time
	if s.Bucket == b.lastBucket && !b.lastStart.IsZero() {
		start = b.lastStart
	} else if b.window == Hour {
		start = time.Unix(s.Bucket, 0).In(b.loc)
	} else {
		var ok bool
		if start, ok = b.starts[s.Bucket]; !ok {
			y, m, d := time.Unix(s.Bucket*86400, 0).UTC().Date()
			if b.window == Month {
				d = 1
			}
			start = time.Date(y, m, d, 0, 0, 0, 0, b.loc)
			if b.starts == nil {
				b.starts = map[int64]time.Time{}
			}
			b.starts[s.Bucket] = start
		}
	}
	b.lastBucket, b.lastStart = s.Bucket, start
	if b.window == Month {
		k := rowKey{start.Unix(), s.ProductCode, s.CustomerAccountID, s.LicenseArn, s.Dimension, s.Tag}
		if i, ok := b.merged[k]; ok {
			b.out[i].Quantity += s.Quantity
			b.out[i].Records += s.Records
			return
		}
		if b.merged == nil {
			b.merged = map[rowKey]int{}
		}
		b.merged[k] = len(b.out)
	}
	if !b.grown && len(b.out) > 0 && !b.out[len(b.out)-1].WindowStart.Equal(start) {
		b.grown = true
		b.out = slices.Grow(b.out, len(b.out)*max(b.windows-1, 0))
	}
	b.out = append(b.out, Row{
		WindowStart:       start,
		ProductCode:       s.ProductCode,
		CustomerAccountID: s.CustomerAccountID,
		LicenseArn:        s.LicenseArn,
		Dimension:         s.Dimension,
		Tag:               s.Tag,
		Quantity:          s.Quantity,
		Records:           s.Records,
	})
}

// finish sorts the rows by window, then by the keys in Keys order.
func (b *rowBuilder) finish() []Row {
	out := b.out
	if out == nil {
		out = []Row{}
	}
	// Stores that give their sums in order (SQLite's) leave nothing to sort.
	if !slices.IsSortedFunc(out, compareRows) {
		slices.SortFunc(out, compareRows)
	}
	return out
}

func compareRows(a, b Row) int {
	if c := a.WindowStart.Compare(b.WindowStart); c != 0 {
		return c
	}
	if c := strings.Compare(a.ProductCode, b.ProductCode); c != 0 {
		return c
	}
	if c := strings.Compare(a.CustomerAccountID, b.CustomerAccountID); c != 0 {
		return c
	}
	if c := strings.Compare(a.LicenseArn, b.LicenseArn); c != 0 {
		return c
	}
	if c := strings.Compare(a.Dimension, b.Dimension); c != 0 {
		return c
	}
	return strings.Compare(a.Tag, b.Tag)
}
