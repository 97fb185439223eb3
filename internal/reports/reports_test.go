package reports_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/metering/meteringtest"
	"github.com/meterd/meterd/internal/reports"
)

// hourly is a Store over hourly figures held in memory, read through
// reports.Fold: the reference the SQLite rollups are checked against.
type hourly []hourFigure

type hourFigure struct {
	hour time.Time
	sum  reports.Sum
}

func (h hourly) UsageRollup(_ context.Context, q reports.RollupQuery, fn func(reports.Sum)) error {
	for _, s := range h.fold(q) {
		fn(s)
	}
	return nil
}

func (h hourly) fold(q reports.RollupQuery) []reports.Sum {
	return reports.Fold(q, func(yield func(int64, reports.Sum)) {
		for _, f := range h {
			if q.ProductCode != "" && f.sum.ProductCode != q.ProductCode ||
				q.Customer != "" && f.sum.CustomerAccountID != q.Customer ||
				q.Dimension != "" && f.sum.Dimension != q.Dimension ||
				q.Tag != "" && f.sum.Tag != q.Tag {
				continue
			}
			yield(f.hour.Unix(), f.sum)
		}
	})
}

func fig(hour string, customer, dim string, q int64) hourFigure {
	t, err := time.Parse(time.RFC3339, hour)
	if err != nil {
		panic(err)
	}
	return hourFigure{t, reports.Sum{ProductCode: "p1", CustomerAccountID: customer, Dimension: dim, Quantity: q, Records: 1}}
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func show(rows []reports.Row) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%s %s/%s/%s/%s/%s %d %d\n", r.WindowStart.Format(time.RFC3339), r.ProductCode, r.CustomerAccountID, r.LicenseArn, r.Dimension, r.Tag, r.Quantity, r.Records)
	}
	return b.String()
}

func TestWindows(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	kolkata := mustLoad(t, "Asia/Kolkata")
	// 2026-03-08 is New York's spring-forward day (23 hours, 05:00Z to
	// 04:00Z next day); 2026-11-01 its fall-back day (25 hours).
	data := hourly{
		fig("2026-03-08T04:00:00Z", "a", "users", 1),  // Mar 7 23:00 EST
		fig("2026-03-08T05:00:00Z", "a", "users", 2),  // Mar 8 00:00 EST
		fig("2026-03-09T03:00:00Z", "a", "users", 4),  // Mar 8 23:00 EDT
		fig("2026-03-09T04:00:00Z", "a", "users", 8),  // Mar 9 00:00 EDT
		fig("2026-03-09T04:00:00Z", "b", "users", 16), // same hour, other customer
		fig("2026-03-09T04:00:00Z", "a", "gb", 32),    // same hour, other dimension
		fig("2026-11-01T04:00:00Z", "a", "users", 64), // Nov 1 00:00 EDT
		fig("2026-11-02T04:00:00Z", "a", "users", 128),
		fig("2026-11-02T05:00:00Z", "a", "users", 256), // Nov 2 00:00 EST
	}
	svc := reports.New(data)
	tests := []struct {
		name string
		q    reports.Query
		want string
	}{
		{
			name: "day in New York across spring forward",
			q: reports.Query{From: time.Date(2026, 3, 7, 0, 0, 0, 0, ny), To: time.Date(2026, 3, 10, 0, 0, 0, 0, ny),
				Window: reports.Day, Location: ny, GroupBy: reports.Group{Customer: true}},
			want: `2026-03-07T00:00:00-05:00 /a/// 1 1
2026-03-08T00:00:00-05:00 /a/// 6 2
2026-03-09T00:00:00-04:00 /a/// 40 2
2026-03-09T00:00:00-04:00 /b/// 16 1
`,
		},
		{
			name: "day in UTC",
			q: reports.Query{From: time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC),
				Window: reports.Day, GroupBy: reports.Group{Customer: true}},
			want: `2026-03-08T00:00:00Z /a/// 3 2
2026-03-09T00:00:00Z /a/// 44 3
2026-03-09T00:00:00Z /b/// 16 1
`,
		},
		{
			name: "day in New York across fall back",
			q: reports.Query{From: time.Date(2026, 11, 1, 0, 0, 0, 0, ny), To: time.Date(2026, 11, 3, 0, 0, 0, 0, ny),
				Window: reports.Day, Location: ny},
			want: `2026-11-01T00:00:00-04:00 //// 192 2
2026-11-02T00:00:00-05:00 //// 256 1
`,
		},
		{
			name: "month in New York",
			q: reports.Query{From: time.Date(2026, 3, 1, 0, 0, 0, 0, ny), To: time.Date(2026, 12, 1, 0, 0, 0, 0, ny),
				Window: reports.Month, Location: ny, GroupBy: reports.Group{Dimension: true}},
			want: `2026-03-01T00:00:00-05:00 ///gb/ 32 1
2026-03-01T00:00:00-05:00 ///users/ 31 5
2026-11-01T00:00:00-04:00 ///users/ 448 3
`,
		},
		{
			name: "hours by customer and dimension, filtered",
			q: reports.Query{From: time.Date(2026, 3, 9, 3, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 9, 5, 0, 0, 0, time.UTC),
				Window: reports.Hour, GroupBy: reports.Group{Customer: true, Dimension: true}, Customer: "a"},
			want: `2026-03-09T03:00:00Z /a//users/ 4 1
2026-03-09T04:00:00Z /a//gb/ 32 1
2026-03-09T04:00:00Z /a//users/ 8 1
`,
		},
		{
			name: "an hour counts when its start is in range",
			q: reports.Query{From: time.Date(2026, 3, 9, 3, 0, 0, 1, time.UTC), To: time.Date(2026, 3, 9, 4, 0, 0, 1, time.UTC),
				Window: reports.Hour},
			want: "2026-03-09T04:00:00Z //// 56 3\n",
		},
		{
			name: "hours in a half-hour zone start at the UTC hour",
			q: reports.Query{From: time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 9, 5, 0, 0, 0, time.UTC),
				Window: reports.Hour, Location: kolkata, Dimension: "gb"},
			want: "2026-03-09T09:30:00+05:30 //// 32 1\n",
		},
		{
			name: "days in a half-hour zone take each hour by its start",
			q: reports.Query{From: time.Date(2026, 3, 8, 0, 0, 0, 0, kolkata), To: time.Date(2026, 3, 10, 0, 0, 0, 0, kolkata),
				Window: reports.Day, Location: kolkata},
			want: `2026-03-08T00:00:00+05:30 //// 3 2
2026-03-09T00:00:00+05:30 //// 60 4
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := svc.Usage(t.Context(), tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := show(rows); got != tt.want {
				t.Errorf("got\n%swant\n%s", got, tt.want)
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	svc := reports.New(hourly{})
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []reports.Query{
		{From: from, To: from.Add(time.Hour), Window: "week"},
		{From: from, Window: reports.Hour},
		{From: from, To: from, Window: reports.Hour},
		{From: from, To: from.AddDate(2, 0, 0), Window: reports.Hour},
	} {
		if _, err := svc.Usage(t.Context(), q); !errors.Is(err, reports.ErrQuery) {
			t.Errorf("%+v: error %v, want a query error", q, err)
		}
	}
	if _, err := reports.ParseGroup("customer,week"); err == nil {
		t.Error("ParseGroup accepted week")
	}
	g, err := reports.ParseGroup(" dimension , customer,")
	if err != nil || g != (reports.Group{Customer: true, Dimension: true}) || g.String() != "customer,dimension" {
		t.Errorf("ParseGroup = %+v, %v", g, err)
	}
}

func TestSpans(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, ny).Unix()
	to := time.Date(2027, 1, 1, 0, 0, 0, 0, ny).Unix()
	spans := reports.Spans(ny, from, to)
	if len(spans) != 3 || spans[0].Offset != -5*3600 || spans[1].Offset != -4*3600 || spans[2].Offset != -5*3600 {
		t.Fatalf("spans of 2026 in New York: %+v", spans)
	}
	if got := time.Unix(spans[1].Start, 0).UTC(); !got.Equal(time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)) {
		t.Errorf("DST starts %s", got)
	}
	if s := reports.Spans(time.UTC, from, to); len(s) != 1 || s[0].Offset != 0 {
		t.Errorf("UTC spans %+v", s)
	}
}

// TestSummaries reads reports from a store without rollups.
func TestSummaries(t *testing.T) {
	store := meteringtest.NewMemStore()
	hour := time.Date(2026, 3, 9, 4, 0, 0, 0, time.UTC)
	var recs []metering.Record
	for i, c := range []string{"111111111111", "222222222222", "111111111111"} {
		recs = append(recs, metering.Record{
			ID: fmt.Sprint(i), Key: fmt.Sprint("k", i), ProductCode: "p1", CustomerAccountID: c,
			Dimension: "users", Timestamp: hour.Add(time.Duration(i) * time.Hour), Quantity: int64(10 * (i + 1)),
		})
	}
	if _, err := store.PutRecords(t.Context(), recs); err != nil {
		t.Fatal(err)
	}
	svc := reports.New(reports.Summaries{Store: store})
	rows, err := svc.Usage(t.Context(), reports.Query{From: hour, To: hour.Add(24 * time.Hour), Window: reports.Day,
		GroupBy: reports.Group{Customer: true}})
	if err != nil {
		t.Fatal(err)
	}
	want := "2026-03-09T00:00:00Z /111111111111/// 40 2\n2026-03-09T00:00:00Z /222222222222/// 20 1\n"
	if got := show(rows); got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
	_, err = svc.Usage(t.Context(), reports.Query{From: hour, To: hour.Add(time.Hour), Window: reports.Hour, GroupBy: reports.Group{Tag: true}})
	if !errors.Is(err, reports.ErrQuery) {
		t.Errorf("tags from summaries: %v, want a query error", err)
	}
}

func TestDailyFeed(t *testing.T) {
	data := hourly{
		fig("2026-03-09T00:00:00Z", "444455556666", "users", 3),
		fig("2026-03-09T23:00:00Z", "444455556666", "users", 4),
		fig("2026-03-10T00:00:00Z", "444455556666", "users", 100), // the next day
	}
	st := metering.State{
		Products:  []metering.Product{{Code: "p1", Seller: "111122223333", Dimensions: []string{"users"}}},
		Customers: []metering.Customer{{Product: "p1", AccountID: "444455556666", CustomerIdentifier: "cust-1", OfferID: "offer-1"}},
	}
	now := time.Date(2026, 3, 11, 1, 2, 3, 0, time.UTC)
	rows, err := reports.New(data).DailyFeed(t.Context(), time.Date(2026, 3, 9, 15, 0, 0, 0, time.UTC), metering.NewCatalog(st), "us-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("rows %+v", rows)
	}
	got := rows[0].Map()
	for col, want := range map[string]string{
		"usage_date": "2026-03-09", "product_id": "p1", "end_user_account_id": "444455556666", "payer_account_id": "444455556666",
		"region": "us-east-1", "dimension_key": "users", "usage_quantity": "7", "recipient_account_id": "111122223333",
		"offer_id": "offer-1", "customer_identifier": "cust-1", "records": "2", "insert_date": "2026-03-11T01:02:03Z",
	} {
		if got[col] != want {
			t.Errorf("%s = %q, want %q", col, got[col], want)
		}
	}
	if len(rows[0].Values()) != len(reports.FeedColumns) {
		t.Errorf("%d values for %d columns", len(rows[0].Values()), len(reports.FeedColumns))
	}
}
