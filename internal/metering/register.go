package metering

import (
	"context"
	"fmt"
	"time"
)

// RegisterUsageInput is a RegisterUsage request as the client sent it.
type RegisterUsageInput struct {
	ProductCode      *string
	PublicKeyVersion *int64
	Nonce            *string
}

// RegisterUsageOutput is RegisterUsage's answer.
type RegisterUsageOutput struct {
	Signature string
	// PublicKeyRotationTimestamp is set when the requested key version is
	// retired: AWS includes it "only when public key version has expired".
	PublicKeyRotationTimestamp time.Time
}

// RegistrationClaims are what the RegisterUsage signature vouches for
// (docs/aws-api.md 7.7).
type RegistrationClaims struct {
	ProductCode      string
	PublicKeyVersion int
	Nonce            string
	IssuedAt         time.Time
}

// RegistrationSigner signs RegisterUsage answers with the private key of a
// public-key version. It lives outside the domain because signing is a JOSE
// concern.
type RegistrationSigner interface {
	SignRegistration(ctx context.Context, c RegistrationClaims) (string, error)
	// KeyCreated is when the key of a version came into use.
	KeyCreated(ctx context.Context, version int) (time.Time, error)
}

// Registration records that a workload registered for a product.
type Registration struct {
	Resource    string
	ProductCode string
	AccountID   string
	At          time.Time
}

// RegistrationStore remembers registrations, so that entitlement is checked
// on a task's or pod's first call only (7.7).
type RegistrationStore interface {
	Registered(ctx context.Context, resource, product string) (bool, error)
	PutRegistration(ctx context.Context, r Registration) error
}

// PublicKeyVersionsOrDefault returns the product's RegisterUsage key versions: the
// listed ones, or version 1 when none are listed. The highest is current.
func (p Product) PublicKeyVersionsOrDefault() []int {
	if len(p.PublicKeyVersions) == 0 {
		return []int{1}
	}
	return p.PublicKeyVersions
}

// RegisterUsage answers a paid container's start-up call with a signed
// token its image verifies with the product's public key.
func (s *Service) RegisterUsage(ctx context.Context, caller Caller, in RegisterUsageInput) (RegisterUsageOutput, error) {
	if s.signer == nil || s.registrations == nil {
		return RegisterUsageOutput{}, Errorf(KindUnavailable, "RegisterUsage is not available with this store.")
	}
	var v violations
	v.str("productCode", in.ProductCode, true, ruleProductCode)
	if in.PublicKeyVersion == nil {
		v.add(false, "null", "publicKeyVersion", "must not be null")
	} else if *in.PublicKeyVersion < 1 {
		v.add(false, fmt.Sprintf("'%d'", *in.PublicKeyVersion), "publicKeyVersion", "must have value greater than or equal to 1")
	}
	v.str("nonce", in.Nonce, false, stringRule{max: 255})
	if err := v.err(); err != nil {
		return RegisterUsageOutput{}, err
	}
	if caller.Region != s.cfg.Region {
		return RegisterUsageOutput{}, Errorf(KindInvalidRegion, "RegisterUsage was called in %s, but the task runs in %s.", caller.Region, s.cfg.Region)
	}
	cat := s.Catalog()
	product, ok := cat.Product(*in.ProductCode)
	if !ok {
		return RegisterUsageOutput{}, Errorf(KindInvalidProductCode, "Product code %s does not exist.", quote(*in.ProductCode))
	}
	key := caller.AccessKey
	switch key.Platform {
	case PlatformECS, PlatformEKS, PlatformFargate:
	default:
		return RegisterUsageOutput{}, Errorf(KindPlatformNotSupported, "RegisterUsage is supported on Amazon ECS, Amazon EKS and AWS Fargate; this workload runs on %s.", key.Platform)
	}
	version := int(*in.PublicKeyVersion)
	versions := product.PublicKeyVersionsOrDefault()
	newest, known := 0, false
	for _, v := range versions {
		newest = max(newest, v)
		known = known || v == version
	}
	if !known || *in.PublicKeyVersion > 1<<20 {
		return RegisterUsageOutput{}, Errorf(KindInvalidPublicKeyVersion, "Public key version %d is not a key version of product %s.", *in.PublicKeyVersion, product.Code)
	}

	// Entitlement is checked on a task's first call only: later calls
	// succeed even after the buyer unsubscribes (7.7).
	workload := key.Workload()
	registered, err := s.registrations.Registered(ctx, workload, product.Code)
	if err != nil {
		return RegisterUsageOutput{}, err
	}
	now := s.clock.Now()
	if !registered {
		cu, ok := cat.CustomerByAccount(product.Code, key.AccountID)
		if !ok || !cu.ActiveAt(now) {
			return RegisterUsageOutput{}, Errorf(KindCustomerNotEntitled, "Account %s has no active agreement for product %s.", key.AccountID, product.Code)
		}
		if err := s.registrations.PutRegistration(ctx, Registration{Resource: workload, ProductCode: product.Code, AccountID: key.AccountID, At: now}); err != nil {
			return RegisterUsageOutput{}, err
		}
	}

	claims := RegistrationClaims{ProductCode: product.Code, PublicKeyVersion: version, IssuedAt: now}
	if in.Nonce != nil {
		claims.Nonce = *in.Nonce
	}
	sig, err := s.signer.SignRegistration(ctx, claims)
	if err != nil {
		return RegisterUsageOutput{}, err
	}
	out := RegisterUsageOutput{Signature: sig}
	if version < newest {
		if out.PublicKeyRotationTimestamp, err = s.signer.KeyCreated(ctx, newest); err != nil {
			return RegisterUsageOutput{}, err
		}
	}
	return out, nil
}

// SigningKey is the RSA key pair of one RegisterUsage public-key version,
// kept as a PKCS #8 PEM private key.
type SigningKey struct {
	Version       int
	PrivateKeyPEM []byte
	CreatedAt     time.Time
}

// SigningKeyStore persists RegisterUsage keys so that they survive restarts
// and every replica signs with the same key.
type SigningKeyStore interface {
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// PutSigningKey stores k. Unless replace is set, an existing key of the
	// same version wins and is returned instead.
	PutSigningKey(ctx context.Context, k SigningKey, replace bool) (SigningKey, error)
}
