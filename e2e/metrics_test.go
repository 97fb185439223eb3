package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsAndProbes: Prometheus metrics count requests by operation and
// error code, records by outcome and group commits; the probes answer.
func TestMetricsAndProbes(t *testing.T) {
	s := start(t, serverOpts{})
	now := s.clock.Now()
	if _, err := s.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "hours", now, 1)); err != nil {
		t.Fatal(err)
	}
	s.client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "hours", now.Add(-7*time.Hour), 1))
	if _, err := s.client(sellerKey).BatchMeterUsage(ctx, batch("saas-both", usage(now, "users", 1, ident("cust-1")), usage(now, "users", 1, ident("nobody")))); err != nil {
		t.Fatal(err)
	}
	s.post(t, buyerKey, "AWSMPMeteringService.Nope", []byte(`{}`))

	code, body := get(t, s.Endpoint()+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`meterd_requests_total{error_code="",operation="MeterUsage"} 1`,
		`meterd_requests_total{error_code="TimestampOutOfBoundsException",operation="MeterUsage"} 1`,
		`meterd_requests_total{error_code="UnknownOperationException",operation="unknown"} 1`,
		`meterd_records_total{operation="BatchMeterUsage",status="CustomerNotSubscribed"} 1`,
		`meterd_records_total{operation="BatchMeterUsage",status="Success"} 1`,
		`meterd_commit_calls_count 2`,
		`meterd_request_duration_seconds_bucket{operation="MeterUsage"`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, probe := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, s.Endpoint()+probe); code != 200 {
			t.Errorf("%s: %d %s", probe, code, body)
		}
	}
	s.Store.Close()
	if code, _ := get(t, s.Endpoint()+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the store closed: %d", code)
	}
}
