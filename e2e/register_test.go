package e2e

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/meterd/meterd/internal/metering"
)

var (
	taskKey   = cred("AKIATASK000000000001", "task-secret")
	task2Key  = cred("AKIATASK000000000002", "task-secret-2")
	podKey    = cred("AKIAPOD0000000000001", "pod-secret")
	b2TaskKey = cred("AKIATASKB2000000001", "b2-task-secret")
)

// downloadKey fetches a version's public key the way a seller would, once.
func downloadKey(t *testing.T, s *server, version string) *rsa.PublicKey {
	t.Helper()
	resp, err := http.Get(s.Endpoint() + "/keys/register-usage/" + version + ".pem")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET key %s: %d %s", version, resp.StatusCode, body)
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("not a PEM public key: %s", body)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pub.(*rsa.PublicKey)
}

type registrationClaims struct {
	ProductCode      string `json:"productCode"`
	PublicKeyVersion int    `json:"publicKeyVersion"`
	Nonce            string `json:"nonce"`
	IssuedAt         int64  `json:"iat"`
}

// verify checks a RegisterUsage signature with go-jose and the PEM alone.
func verify(t *testing.T, token string, pub *rsa.PublicKey) registrationClaims {
	t.Helper()
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.PS256})
	if err != nil {
		t.Fatalf("parse JWT: %v", err)
	}
	if alg := parsed.Headers[0].Algorithm; alg != "PS256" {
		t.Fatalf("alg %s, want PS256", alg)
	}
	var c registrationClaims
	if err := parsed.Claims(pub, &c); err != nil {
		t.Fatalf("signature does not verify with the downloaded key: %v", err)
	}
	return c
}

func TestRegisterUsageSDK(t *testing.T) {
	s := start(t, serverOpts{})
	task := s.client(taskKey)
	out, err := task.RegisterUsage(ctx, &mm.RegisterUsageInput{ProductCode: aws.String("container-1"), PublicKeyVersion: aws.Int32(2), Nonce: aws.String("nonce-123")})
	if err != nil {
		t.Fatal(err)
	}
	if out.PublicKeyRotationTimestamp != nil {
		t.Fatal("current key version answered a rotation timestamp")
	}
	c := verify(t, aws.ToString(out.Signature), downloadKey(t, s, "2"))
	if c.ProductCode != "container-1" || c.PublicKeyVersion != 2 || c.Nonce != "nonce-123" || time.Since(time.Unix(c.IssuedAt, 0)).Abs() > time.Minute {
		t.Fatalf("claims %+v", c)
	}

	t.Run("RetiredVersionAddsRotationTimestamp", func(t *testing.T) {
		old, err := s.client(podKey).RegisterUsage(ctx, &mm.RegisterUsageInput{ProductCode: aws.String("container-1"), PublicKeyVersion: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		if old.PublicKeyRotationTimestamp == nil {
			t.Fatal("retired version: no PublicKeyRotationTimestamp")
		}
		verify(t, aws.ToString(old.Signature), downloadKey(t, s, "1"))
		// A key does not verify another version's signature.
		if _, err := jwt.ParseSigned(aws.ToString(old.Signature), []jose.SignatureAlgorithm{jose.PS256}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		now := func(o *mm.Options) { o.Region = "eu-west-1" }
		cases := []struct {
			name   string
			client *mm.Client
			in     *mm.RegisterUsageInput
			check  func(*testing.T, error)
		}{
			{"UnknownVersion", task, &mm.RegisterUsageInput{ProductCode: aws.String("container-1"), PublicKeyVersion: aws.Int32(3)},
				func(t *testing.T, err error) { wantType[*types.InvalidPublicKeyVersionException](t, err) }},
			{"UnknownProduct", task, &mm.RegisterUsageInput{ProductCode: aws.String("nope"), PublicKeyVersion: aws.Int32(1)},
				func(t *testing.T, err error) { wantType[*types.InvalidProductCodeException](t, err) }},
			{"EC2IsNotSupported", s.client(buyerKey), &mm.RegisterUsageInput{ProductCode: aws.String("container-1"), PublicKeyVersion: aws.Int32(1)},
				func(t *testing.T, err error) { wantType[*types.PlatformNotSupportedException](t, err) }},
			{"OtherRegion", s.client(taskKey, now), &mm.RegisterUsageInput{ProductCode: aws.String("container-1"), PublicKeyVersion: aws.Int32(1)},
				func(t *testing.T, err error) { wantType[*types.InvalidRegionException](t, err) }},
			{"NotEntitled", s.client(b2TaskKey), &mm.RegisterUsageInput{ProductCode: aws.String("container-1"), PublicKeyVersion: aws.Int32(1)},
				func(t *testing.T, err error) { wantType[*types.CustomerNotEntitledException](t, err) }},
			{"VersionZero", task, &mm.RegisterUsageInput{ProductCode: aws.String("container-1"), PublicKeyVersion: aws.Int32(0)},
				func(t *testing.T, err error) { wantCode(t, err, "ValidationException") }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := c.client.RegisterUsage(ctx, c.in)
				c.check(t, err)
			})
		}
	})
	t.Run("EntitlementCheckedOnFirstCallOnly", func(t *testing.T) {
		// The buyer unsubscribes after task 1 registered.
		err := s.Service.ApplyState(ctx, metering.State{Customers: []metering.Customer{{Product: "container-1", AccountID: buyerAccount, Status: metering.StatusUnsubscribed}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := task.RegisterUsage(ctx, &mm.RegisterUsageInput{ProductCode: aws.String("container-1"), PublicKeyVersion: aws.Int32(2)}); err != nil {
			t.Fatalf("registered task refused after unsubscribe: %v", err)
		}
		_, err = s.client(task2Key).RegisterUsage(ctx, &mm.RegisterUsageInput{ProductCode: aws.String("container-1"), PublicKeyVersion: aws.Int32(2)})
		wantType[*types.CustomerNotEntitledException](t, err)
	})
	t.Run("KeysSurviveRestart", func(t *testing.T) {
		before := downloadKey(t, s, "2")
		if resp, _ := http.Get(s.Endpoint() + "/keys/register-usage/9.pem"); resp.StatusCode != 404 {
			t.Fatalf("unknown version: %d", resp.StatusCode)
		}
		s.Close()
		s2 := start(t, serverOpts{db: s.db})
		if !before.Equal(downloadKey(t, s2, "2")) {
			t.Fatal("key of version 2 changed across a restart")
		}
	})
}

func TestResolveCustomerSDK(t *testing.T) {
	s := start(t, serverOpts{})
	seller := s.client(sellerKey)
	out, err := seller.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg+token/legacy==")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.CustomerIdentifier) != "cust-1" || aws.ToString(out.CustomerAWSAccountId) != buyerAccount ||
		aws.ToString(out.ProductCode) != "saas-both" || aws.ToString(out.LicenseArn) != license1 {
		t.Fatalf("resolved %+v", out)
	}
	// Reusable until it expires.
	if _, err := seller.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg+token/legacy==")}); err != nil {
		t.Fatalf("second redemption: %v", err)
	}
	// Concurrent Agreements products return no CustomerIdentifier.
	c, err := seller.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg-token-concurrent")})
	if err != nil || c.CustomerIdentifier != nil || aws.ToString(c.LicenseArn) != license2 {
		t.Fatalf("concurrent: %+v %v", c, err)
	}
	_, err = seller.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg-token-expired")})
	wantType[*types.ExpiredTokenException](t, err)
	_, err = seller.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("garbage!!")})
	wantType[*types.InvalidTokenException](t, err)
	// Another seller cannot resolve this seller's customers.
	_, err = s.client(otherSellerKey).ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg+token/legacy==")})
	wantType[*types.InvalidTokenException](t, err)
	// Tokens expire 4 hours after start by default.
	s.clock.Freeze(time.Now().Add(4*time.Hour + time.Minute))
	_, err = seller.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg+token/legacy==")})
	wantType[*types.ExpiredTokenException](t, err)
}
