package loadgen_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/app"
	"github.com/meterd/meterd/internal/loadgen"
	"github.com/meterd/meterd/internal/metering"
)

var fixture = loadgen.Fixture{Customers: 50, Dimensions: 2, Workloads: 4, EC2Workloads: 2}

// run sends a bounded load and fails the test on any error or on a record
// count that does not add up.
func run(t *testing.T, endpoint string, op loadgen.Operation, requests int64, dup float64) loadgen.Result {
	t.Helper()
	cfg := fixture.Config(op)
	cfg.Endpoint = endpoint
	cfg.Concurrency = 4
	cfg.Requests = requests
	cfg.Duration = 10 * time.Second // a bound, not expected to be reached
	cfg.DuplicateRatio = dup
	cfg.Seed = 7
	res, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if n := res.ErrorCount(); n != 0 {
		t.Fatalf("%s: %d errors: %v %v", op, n, res.Errors, res.ErrorSamples)
	}
	perRequest := int64(1)
	if op == loadgen.OpBatch {
		perRequest = loadgen.DefaultRecordsPerRequest
	}
	if res.Requests != requests || res.OK != requests || res.Records != requests*perRequest || res.Succeeded != res.Records {
		t.Fatalf("%s: requests %d ok %d records %d succeeded %d; want %d requests of %d records, all successful",
			op, res.Requests, res.OK, res.Records, res.Succeeded, requests, perRequest)
	}
	if res.Latency.Count() != uint64(requests) {
		t.Fatalf("%s: %d latencies for %d requests", op, res.Latency.Count(), requests)
	}
	return res
}

func TestRunAgainstDecodeOnlyBaseline(t *testing.T) {
	srv := httptest.NewServer(loadgen.DecodeOnlyHandler()) // listens on 127.0.0.1
	defer srv.Close()
	run(t, srv.URL, loadgen.OpBatch, 20, 0)
	run(t, srv.URL, loadgen.OpMeter, 40, 0.3)
}

func TestRunAgainstMeterd(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.yaml")
	if err := os.WriteFile(state, fixture.StateYAML(), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(context.Background(), app.Config{
		Listen:    "127.0.0.1:0",
		Database:  filepath.Join(dir, "meterd.db"),
		StateFile: state,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()

	// 10 batches of 25 cycle through 50 customers × 2 dimensions × hours
	// without repeating a key, so every record is stored once.
	run(t, a.Endpoint(), loadgen.OpBatch, 10, 0)
	if got := storedRecords(t, a, loadgen.SaaSProduct); got != 250 {
		t.Errorf("meterd stored %d BatchMeterUsage records, want 250", got)
	}

	// Every MeterUsage request is a new record (AgentCore: a fresh
	// ClientToken; EC2: a new dimension or hour) except the duplicates,
	// which repeat an earlier request and so its record.
	res := run(t, a.Endpoint(), loadgen.OpMeter, 30, 0.3)
	if got, want := storedRecords(t, a, loadgen.AMIProduct), res.Requests-res.Duplicates; got != want {
		t.Errorf("meterd stored %d MeterUsage records, want %d (%d requests, %d duplicates)", got, want, res.Requests, res.Duplicates)
	}
	if res.Duplicates == 0 {
		t.Error("a duplicate ratio of 0.3 sent no duplicates")
	}
}

func storedRecords(t *testing.T, a *app.App, product string) int64 {
	t.Helper()
	rows, err := a.Store.UsageSummary(context.Background(), metering.UsageFilter{ProductCode: product})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range rows {
		n += r.Records
	}
	return n
}

func TestRunRefusesUnboundedOrIncompleteConfig(t *testing.T) {
	valid := fixture.Config(loadgen.OpBatch)
	valid.Endpoint = "http://127.0.0.1:1"
	valid.Requests = 1
	tests := []struct {
		name string
		edit func(*loadgen.Config)
	}{
		{"Unbounded", func(c *loadgen.Config) { c.Requests = 0 }},
		{"NoEndpoint", func(c *loadgen.Config) { c.Endpoint = "" }},
		{"UnknownOperation", func(c *loadgen.Config) { c.Operation = "resolve" }},
		{"NoCredentials", func(c *loadgen.Config) { c.Credentials = nil }},
		{"BatchWithoutCustomers", func(c *loadgen.Config) { c.Customers = nil }},
		{"DuplicateRatioAboveOne", func(c *loadgen.Config) { c.DuplicateRatio = 1.5 }},
		{"NegativeRate", func(c *loadgen.Config) { c.Rate = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			if _, err := loadgen.Run(context.Background(), cfg); err == nil {
				t.Error("Run accepted the config")
			}
		})
	}
}

func TestDecodeOnlyHandlerAnswersLikeTheService(t *testing.T) {
	srv := httptest.NewServer(loadgen.DecodeOnlyHandler())
	defer srv.Close()
	tests := []struct {
		name, target, body string
		status             int
		want               string // substring of the body
	}{
		{"Meter", loadgen.OpMeter.Target(), `{"ProductCode":"p","Timestamp":1700000000,"UsageDimension":"d","UsageQuantity":1}`, 200, `{"MeteringRecordId":"` + loadgen.BaselineRecordID + `"}`},
		{"Batch", loadgen.OpBatch.Target(), `{"ProductCode":"p","UsageRecords":[{"CustomerIdentifier":"c","Dimension":"d","Quantity":2,"Timestamp":1700000000}]}`, 200,
			`{"Results":[{"UsageRecord":{"Timestamp":1700000000,"CustomerIdentifier":"c","Dimension":"d","Quantity":2},"MeteringRecordId":"` + loadgen.BaselineRecordID + `","Status":"Success"}],"UnprocessedRecords":[]}`},
		{"Malformed", loadgen.OpMeter.Target(), `{"ProductCode":`, 400, `"__type":"SerializationException"`},
		{"WrongType", loadgen.OpBatch.Target(), `{"UsageRecords":[{"Quantity":1.5}]}`, 400, `"__type":"SerializationException"`},
		{"UnknownOperation", "AWSMPMeteringService.ResolveCustomer", `{}`, 400, `"__type":"UnknownOperationException"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(tt.body))
			req.Header.Set("X-Amz-Target", tt.target)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
				t.Errorf("got %d %s, want %d containing %s", resp.StatusCode, body, tt.status, tt.want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestCountSuccess(t *testing.T) {
	tests := []struct {
		body string
		want int
	}{
		{`{"Results":[{"Status":"Success"},{"Status":"Success"}]}`, 2},
		// moto writes its JSON with json.dumps defaults.
		{`{"Results": [{"Status": "Success"}, {"Status": "CustomerNotSubscribed"}, {"Status" :"Success"}]}`, 2},
		{`{"Results":[{"Status":"DuplicateRecord"}],"UnprocessedRecords":[]}`, 0},
		{`{"Status":"Success`, 0},
		{`"Status"`, 0},
		{``, 0},
	}
	for _, tt := range tests {
		if got := loadgen.CountSuccess([]byte(tt.body)); got != tt.want {
			t.Errorf("CountSuccess(%s) = %d, want %d", tt.body, got, tt.want)
		}
	}
}
