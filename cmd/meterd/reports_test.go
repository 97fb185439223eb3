package main

import (
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/meterd/meterd/internal/adminapi"
	"github.com/meterd/meterd/internal/app"
)

// demoSeller meters demo-saas usage as the demo state's seller.
func demoSeller(a *app.App) *mm.Client {
	return mm.New(mm.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(a.Endpoint()),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIADEMOSELLER000001", SecretAccessKey: "demo-seller-secret"}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

// TestVisibilityCLI runs report, audit and debug against a real meterd.
func TestVisibilityCLI(t *testing.T) {
	a := startApp(t)
	now := time.Now().UTC()
	rec := func(dim string, q int32) types.UsageRecord {
		return types.UsageRecord{Timestamp: aws.Time(now), CustomerIdentifier: aws.String("demo-customer-0001"), Dimension: aws.String(dim), Quantity: aws.Int32(q)}
	}
	seller := demoSeller(a)
	for _, in := range [][]types.UsageRecord{{rec("users", 3), rec("storage_gb", 10)}, {rec("users", 4)}} {
		if _, err := seller.BatchMeterUsage(t.Context(), &mm.BatchMeterUsageInput{ProductCode: aws.String("demo-saas"), UsageRecords: in}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("ReportUsage", func(t *testing.T) {
		out := mustCLI(t, a, "report", "usage", "--window", "day", "--group-by", "customer,dimension", "--tz", "America/New_York")
		if !strings.Contains(out, "WINDOW (America/New_York)") || !strings.Contains(out, "444455556666") || !strings.Contains(out, "storage_gb") {
			t.Errorf("table:\n%s", out)
		}
		out = mustCLI(t, a, "report", "usage", "--from", now.Format(time.DateOnly), "--group-by", "dimension", "--csv")
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(recs) != 3 || strings.Join(recs[0], ",") != "window_start,dimension,quantity,records" {
			t.Errorf("CSV %q, %v", out, err)
		}
		var rep adminapi.UsageReport
		mustDecode(t, mustCLI(t, a, "report", "usage", "--json", "--product", "demo-saas"), &rep)
		if len(rep.Rows) != 1 || rep.Rows[0].Quantity != 13 || rep.Rows[0].Records != 2 {
			t.Errorf("JSON report %+v", rep)
		}
	})

	t.Run("ReportDaily", func(t *testing.T) {
		out := mustCLI(t, a, "report", "daily", "--date", now.Format(time.DateOnly), "--csv")
		if !strings.HasPrefix(out, "valid_from,insert_date,") || !strings.Contains(out, "demo-customer-0001") {
			t.Errorf("daily CSV:\n%s", out)
		}
		out = mustCLI(t, a, "report", "daily", "--date", now.Format(time.DateOnly))
		if !strings.Contains(out, "demo-saas") || !strings.Contains(out, "storage_gb") {
			t.Errorf("daily table:\n%s", out)
		}
	})

	t.Run("AuditLookup", func(t *testing.T) {
		out := mustCLI(t, a, "audit", "lookup", "--event-name", "BatchMeterUsage")
		if strings.Count(out, "BatchMeterUsage") != 2 || !strings.Contains(out, "AKIADEMOSELLER000001") {
			t.Errorf("table:\n%s", out)
		}
		var page adminapi.AuditEvents
		mustDecode(t, mustCLI(t, a, "audit", "lookup", "--json", "--all", "--max-results", "1", "--event-source", "metering.marketplace.amazonaws.com"), &page)
		if len(page.Events) != 2 || page.NextToken != "" {
			t.Errorf("--all gave %d events, token %q", len(page.Events), page.NextToken)
		}
		code, _, errs := cli(t, a, "audit", "lookup", "--max-results", "1")
		if code != 0 || !strings.Contains(errs, "--next-token") {
			t.Errorf("exit %d, stderr %q: want a hint for the next page", code, errs)
		}
	})

	t.Run("DebugRecords", func(t *testing.T) {
		out := mustCLI(t, a, "debug", "records", "--product", "demo-saas", "--customer", "demo-customer-0001", "--hour", now.Format(time.RFC3339))
		if !strings.Contains(out, "Attempts not stored: 1") || !strings.Contains(out, "duplicate of record") || !strings.Contains(out, "DuplicateRecord") {
			t.Errorf("debug:\n%s", out)
		}
	})

	t.Run("Usage", func(t *testing.T) {
		for _, args := range [][]string{{"report"}, {"audit", "follow"}, {"debug"}} {
			if code, _, _ := cli(t, a, args...); code != 2 {
				t.Errorf("meterd %s: exit %d, want 2", strings.Join(args, " "), code)
			}
		}
		if code, _, errs := cli(t, a, "debug", "records", "--product", "demo-saas"); code != 1 || !strings.Contains(errs, "required") {
			t.Errorf("missing flags: exit %d %s", code, errs)
		}
		if code, _, errs := cli(t, a, "report", "usage", "--tz", "Nowhere/Special"); code != 1 || !strings.Contains(errs, "--tz") {
			t.Errorf("bad zone: exit %d %s", code, errs)
		}
	})
}
