package e2e

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/meterd/meterd/internal/adminapi"
)

// reportsNow is when the reports tests run: 03:30 UTC, when New York is
// still on the day before, so that UTC and New York days differ.
var reportsNow = time.Date(2026, 11, 23, 3, 30, 0, 0, time.UTC)

// meterReportTraffic meters, through the Go SDK, usage on both sides of
// New York's midnight.
func meterReportTraffic(t *testing.T, s *server) {
	t.Helper()
	s.clock.Freeze(reportsNow)
	h := func(day, hour int) time.Time { return time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC) }
	tagged := usage(h(23, 3), "storage_gb", 5, ident("cust-1"))
	tagged.UsageAllocations = []types.UsageAllocation{
		{AllocatedUsageQuantity: aws.Int32(3), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}},
		{AllocatedUsageQuantity: aws.Int32(2)},
	}
	out, err := s.client(sellerKey).BatchMeterUsage(ctx, batch("saas-both",
		usage(h(22, 4), "users", 10, ident("cust-1")), // New York: Nov 21, 23:00
		usage(h(22, 6), "users", 20, ident("cust-1")), // Nov 22, 01:00
		usage(h(23, 2), "users", 40, ident("cust-1")), // Nov 22, 21:00
		tagged, // Nov 22, 22:00
	))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out.Results {
		if r.Status != types.UsageRecordResultStatusSuccess {
			t.Fatalf("record %d: %s", i, r.Status)
		}
	}
	buyer := s.client(buyerKey)
	for _, m := range []struct {
		ts time.Time
		q  int32
	}{{h(23, 1), 1}, {h(22, 23), 2}} { // New York: Nov 22, 20:00 and 18:00
		if _, err := buyer.MeterUsage(ctx, meterInput("ami-1", "hours", m.ts, m.q)); err != nil {
			t.Fatal(err)
		}
	}
}

func reportLines(rep adminapi.UsageReport) string {
	var b strings.Builder
	for _, r := range rep.Rows {
		fmt.Fprint(&b, r.WindowStart.Format(time.RFC3339))
		for _, v := range []*string{r.ProductCode, r.Customer, r.LicenseArn, r.Dimension, r.Tag} {
			if v != nil {
				fmt.Fprintf(&b, " %q", *v)
			}
		}
		fmt.Fprintf(&b, " %d/%d\n", r.Quantity, r.Records)
	}
	return b.String()
}

func TestUsageReports(t *testing.T) {
	s := start(t, serverOpts{})
	meterReportTraffic(t, s)
	admin := s.admin()

	t.Run("DayWindowsInTimeZones", func(t *testing.T) {
		tests := []struct {
			tz   string
			want string
		}{
			{"UTC", `2026-11-22T00:00:00Z "ami-1" "hours" 2/1
2026-11-22T00:00:00Z "saas-both" "users" 30/2
2026-11-23T00:00:00Z "ami-1" "hours" 1/1
2026-11-23T00:00:00Z "saas-both" "storage_gb" 5/1
2026-11-23T00:00:00Z "saas-both" "users" 40/1
`},
			{"America/New_York", `2026-11-21T00:00:00-05:00 "saas-both" "users" 10/1
2026-11-22T00:00:00-05:00 "ami-1" "hours" 3/2
2026-11-22T00:00:00-05:00 "saas-both" "storage_gb" 5/1
2026-11-22T00:00:00-05:00 "saas-both" "users" 60/2
`},
		}
		for _, tt := range tests {
			loc, _ := time.LoadLocation(tt.tz)
			rep, err := admin.UsageReport(ctx, adminapi.UsageQuery{
				From: time.Date(2026, 11, 20, 0, 0, 0, 0, loc), To: time.Date(2026, 11, 24, 0, 0, 0, 0, loc),
				Window: "day", TZ: tt.tz, GroupBy: []string{"product", "dimension"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := reportLines(rep); got != tt.want || rep.TZ != tt.tz {
				t.Errorf("%s days:\n%swant\n%s", tt.tz, got, tt.want)
			}
		}
	})

	t.Run("HoursByCustomerAndDimension", func(t *testing.T) {
		rep, err := admin.UsageReport(ctx, adminapi.UsageQuery{
			From: time.Date(2026, 11, 23, 1, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 23, 4, 0, 0, 0, time.UTC),
			TZ: "America/New_York", GroupBy: []string{"customer", "dimension"}, Product: "saas-both", Customer: "cust-1",
		})
		if err != nil {
			t.Fatal(err)
		}
		want := `2026-11-22T21:00:00-05:00 "444455556666" "users" 40/1
2026-11-22T22:00:00-05:00 "444455556666" "storage_gb" 5/1
`
		if got := reportLines(rep); got != want || rep.Window != "hour" {
			t.Errorf("got\n%swant\n%s", got, want)
		}
	})

	t.Run("Tags", func(t *testing.T) {
		rep, err := admin.UsageReport(ctx, adminapi.UsageQuery{
			From: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC),
			Window: "day", GroupBy: []string{"dimension", "tag"}, Product: "saas-both",
		})
		if err != nil {
			t.Fatal(err)
		}
		want := `2026-11-23T00:00:00Z "storage_gb" "" 2/1
2026-11-23T00:00:00Z "storage_gb" "env=prod" 3/1
2026-11-23T00:00:00Z "users" "" 40/1
`
		if got := reportLines(rep); got != want {
			t.Errorf("got\n%swant\n%s", got, want)
		}
	})

	t.Run("CSV", func(t *testing.T) {
		data, err := admin.UsageReportCSV(ctx, adminapi.UsageQuery{
			From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC),
			Window: "month", TZ: "America/New_York", GroupBy: []string{"product", "customer", "license"},
		})
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v\n%s", err, data)
		}
		want := [][]string{
			{"window_start", "product_code", "customer", "license_arn", "quantity", "records"},
			{"2026-11-01T00:00:00-04:00", "ami-1", buyerAccount, "", "3", "2"},
			{"2026-11-01T00:00:00-04:00", "saas-both", buyerAccount, license1, "75", "4"},
		}
		if fmt.Sprint(recs) != fmt.Sprint(want) {
			t.Errorf("CSV\n%v\nwant\n%v", recs, want)
		}
		if !bytes.Contains(data, []byte("\r\n")) {
			t.Error("CSV lines do not end in CRLF")
		}
	})

	t.Run("DailyUsage", func(t *testing.T) {
		data, err := admin.DailyUsageCSV(ctx, "2026-11-22")
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v\n%s", err, data)
		}
		if len(recs) != 3 {
			t.Fatalf("%d lines, want a header and 2 rows:\n%s", len(recs), data)
		}
		col := map[string]int{}
		for i, c := range recs[0] {
			col[c] = i
		}
		for _, c := range []string{"usage_date", "product_id", "end_user_account_id", "payer_account_id", "region", "dimension_key", "usage_quantity", "recipient_account_id", "usage_feed_id"} {
			if _, ok := col[c]; !ok {
				t.Errorf("no column %s in %v", c, recs[0])
			}
		}
		got := map[string]string{}
		for _, r := range recs[1:] {
			if r[col["usage_date"]] != "2026-11-22" || r[col["region"]] != "us-east-1" || r[col["recipient_account_id"]] != sellerAccount ||
				r[col["end_user_account_id"]] != buyerAccount || r[col["usage_feed_id"]] == "" {
				t.Errorf("row %v", r)
			}
			got[r[col["product_id"]]+"/"+r[col["dimension_key"]]] = r[col["usage_quantity"]]
		}
		if fmt.Sprint(got) != "map[ami-1/hours:2 saas-both/users:30]" {
			t.Errorf("daily usage %v", got)
		}
		js, err := admin.DailyUsage(ctx, "2026-11-22")
		if err != nil || len(js.Rows) != 2 || js.Rows[1]["customer_identifier"] != "cust-1" || len(js.Columns) != len(recs[0]) {
			t.Errorf("JSON daily usage %+v, %v", js, err)
		}
	})
}

// TestReportsFollowRecords checks that a report includes a record as soon
// as its call has returned: the rollups commit with the records.
func TestReportsFollowRecords(t *testing.T) {
	s := start(t, serverOpts{})
	s.clock.Freeze(reportsNow)
	seller, admin := s.client(sellerKey), s.admin()
	q := adminapi.UsageQuery{From: reportsNow.Add(-6 * time.Hour), To: reportsNow.Add(time.Hour), Window: "month", GroupBy: []string{"customer"}}
	for i := 1; i <= 5; i++ {
		ts := reportsNow.Add(-time.Duration(i) * time.Hour)
		in := batch("saas-old", usage(ts, "users", int32(i), ident("old-1")))
		if i == 5 {
			// A repeat of the first record changes nothing.
			in = batch("saas-old", usage(reportsNow.Add(-time.Hour), "users", 1, ident("old-1")))
		}
		if _, err := seller.BatchMeterUsage(ctx, in); err != nil {
			t.Fatal(err)
		}
		rep, err := admin.UsageReport(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		wantQ, wantN := int64(i*(i+1)/2), int64(i)
		if i == 5 {
			wantQ, wantN = 10, 4
		}
		if len(rep.Rows) != 1 || rep.Rows[0].Quantity != wantQ || rep.Rows[0].Records != wantN {
			t.Fatalf("after call %d: %s, want %d/%d", i, reportLines(rep), wantQ, wantN)
		}
	}
}
