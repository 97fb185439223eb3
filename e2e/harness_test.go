// Package e2e drives a real meterd (app.Open on 127.0.0.1:0, a real SQLite
// file) with real AWS SDK clients: aws-sdk-go-v2's marketplacemetering
// v1.45.0 and boto3.
package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"

	"github.com/meterd/meterd/internal/app"
	"github.com/meterd/meterd/internal/metering"
)

// testClock is the server's clock; SDK clients sign with it too, so tests
// can move time (month ends, windows) without breaking SigV4's skew check.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
	frozen time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen
	}
	return time.Now().Add(c.offset)
}

// Freeze stops the clock at t.
func (c *testClock) Freeze(t time.Time) {
	c.mu.Lock()
	c.frozen = t
	c.mu.Unlock()
}

type server struct {
	*app.App
	clock *testClock
	db    string
}

type serverOpts struct {
	state string // state file; default testdata/state.yaml
	db    string // database path; default a new temp file
	rules metering.Config
}

// start runs meterd until the test ends.
func start(t *testing.T, o serverOpts) *server {
	t.Helper()
	if o.state == "" {
		o.state = filepath.Join("testdata", "state.yaml")
	}
	if o.db == "" {
		o.db = filepath.Join(t.TempDir(), "meterd.db")
	}
	clock := &testClock{}
	a, err := app.Open(context.Background(), app.Config{
		Listen:    "127.0.0.1:0",
		Database:  o.db,
		StateFile: o.state,
		Rules:     o.rules,
		Clock:     clock,
	})
	if err != nil {
		t.Fatalf("start meterd: %v", err)
	}
	s := &server{App: a, clock: clock, db: o.db}
	t.Cleanup(func() { a.Close() })
	return s
}

// clockSigner signs with the server's test clock.
type clockSigner struct {
	inner *v4.Signer
	now   func() time.Time
}

func (s clockSigner) SignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions)) error {
	return s.inner.SignHTTP(ctx, creds, r, payloadHash, service, region, s.now(), optFns...)
}

// Credentials of testdata/state.yaml.
var (
	sellerKey      = cred("AKIASELLER0000000001", "seller-secret")
	otherSellerKey = cred("AKIAOTHERSELLER00001", "other-seller-secret")
	buyerKey       = cred("AKIABUYER00000000001", "buyer-secret")
	buyerKey2      = cred("AKIABUYER00000000002", "buyer-secret-2")
	agentKey       = cred("AKIAAGENT00000000001", "agent-secret")
	buyer2Key      = cred("AKIABUYER20000000001", "buyer-2-secret")
)

const (
	sellerAccount = "111122223333"
	buyerAccount  = "444455556666"
	buyer2Account = "777788889999"
	license1      = "arn:aws:license-manager::444455556666:license:l-00000000000000000000000000000001"
	license2      = "arn:aws:license-manager::777788889999:license:l-00000000000000000000000000000002"
)

func cred(id, secret string) aws.Credentials {
	return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, Source: "e2e"}
}

// client returns a Go SDK client for meterd, signing as creds. Retries are
// off so that every error reaches the test as the server sent it.
func (s *server) client(creds aws.Credentials, optFns ...func(*mm.Options)) *mm.Client {
	return mm.New(mm.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(s.Endpoint()),
		Credentials:      aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		HTTPSignerV4:     clockSigner{inner: v4.NewSigner(), now: s.clock.Now},
		RetryMaxAttempts: 1,
	}, optFns...)
}

// sharedDir is ../shared beside the checkout (METERD_SHARED overrides).
func sharedDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("METERD_SHARED"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "..", "shared"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("shared material not found at %s (set METERD_SHARED): %v", d, err)
	}
	return d
}
