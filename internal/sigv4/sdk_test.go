package sigv4_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering"

	"github.com/meterd/meterd/internal/sigv4"
)

// TestGoSDKClient checks the requests the real Go SDK client sends, with the
// headers its middleware adds around signing, rather than a hand-built one.
func TestGoSDKClient(t *testing.T) {
	tests := []struct {
		name  string
		token string
		path  string
	}{
		{name: "static credentials"},
		{name: "session credentials", token: token},
		{name: "endpoint with base path", path: "/meterd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu      sync.Mutex
				results []sigv4.Result
				errs    []error
			)
			v := &sigv4.Verifier{
				Service: service,
				Secret: func(id string) (string, bool) {
					s, ok := secrets[id]
					return s, ok
				},
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, err := io.ReadAll(r.Body)
				if err != nil {
					t.Error(err)
				}
				res, err := v.Verify(r, body)
				mu.Lock()
				results, errs = append(results, res), append(errs, err)
				mu.Unlock()
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				io.WriteString(w, `{"MeteringRecordId":"rec-1"}`)
			}))
			defer srv.Close()

			client := marketplacemetering.New(marketplacemetering.Options{
				Region:       "eu-central-1",
				BaseEndpoint: aws.String(srv.URL + tt.path),
				Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
					return aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: tt.token}, nil
				}),
			})
			_, err := client.MeterUsage(context.Background(), &marketplacemetering.MeterUsageInput{
				ProductCode:    aws.String("prod-123"),
				Timestamp:      aws.Time(time.Now()),
				UsageDimension: aws.String("users"),
				UsageQuantity:  aws.Int32(1),
			})
			if err != nil {
				t.Fatalf("MeterUsage: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(errs) != 1 {
				t.Fatalf("server saw %d requests, want 1", len(errs))
			}
			if errs[0] != nil {
				t.Fatalf("Verify: %v", errs[0])
			}
			res := results[0]
			if res.AccessKeyID != akid || res.Region != "eu-central-1" || res.Service != service || res.SessionToken != tt.token {
				t.Errorf("Result = %+v", res)
			}
		})
	}
}
