// Package registersig signs RegisterUsage answers: one RSA key pair per
// public-key version, generated and persisted by meterd or loaded from PEM
// files, and a compact JWS (a JWT) signed with RSASSA-PSS SHA-256 (PS256)
// carrying productCode, publicKeyVersion, nonce and iat, which a seller's
// container verifies with the version's public key (docs/aws-api.md 7.7).
//
// Signing uses go-jose, a maintained JOSE implementation: meterd never
// hand-rolls crypto.
package registersig

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/meterd/meterd/internal/metering"
)

// KeyBits is the size of generated keys.
const KeyBits = 2048

type key struct {
	private *rsa.PrivateKey
	signer  jose.Signer
	created time.Time
	public  []byte // PEM
}

// Keys holds the signing keys. It is safe for concurrent use.
type Keys struct {
	store metering.SigningKeyStore
	clock metering.Clock

	mu   sync.Mutex
	keys map[int]*key
}

var _ metering.RegistrationSigner = (*Keys)(nil)

// New returns Keys backed by store.
func New(store metering.SigningKeyStore, clock metering.Clock) *Keys {
	if clock == nil {
		clock = metering.SystemClock{}
	}
	return &Keys{store: store, clock: clock, keys: map[int]*key{}}
}

// LoadDir stores the private keys in dir, named N.pem for version N
// (PKCS #8 or PKCS #1), replacing any key meterd generated for N.
func (k *Keys) LoadDir(ctx context.Context, dir string) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.pem"))
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("register-usage keys: no N.pem files in %s", dir)
	}
	for _, p := range paths {
		version, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(p), ".pem"))
		if err != nil || version < 1 {
			return fmt.Errorf("register-usage keys: %s: name the file after its key version, e.g. 1.pem", p)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		priv, err := parsePrivate(data)
		if err != nil {
			return fmt.Errorf("register-usage keys: %s: %w", p, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return err
		}
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if _, err := k.store.PutSigningKey(ctx, metering.SigningKey{Version: version, PrivateKeyPEM: pemBytes, CreatedAt: k.clock.Now()}, true); err != nil {
			return err
		}
		k.mu.Lock()
		delete(k.keys, version)
		k.mu.Unlock()
	}
	return nil
}

func parsePrivate(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if priv, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return priv, nil
	}
	any, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an RSA private key: %w", err)
	}
	priv, ok := any.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA private key")
	}
	return priv, nil
}

// get returns the key of version, loading it from the store or generating
// and storing it. Concurrent replicas agree: the first stored key wins.
func (k *Keys) get(ctx context.Context, version int) (*key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.keys[version]; ok {
		return c, nil
	}
	stored, err := k.store.SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	var sk *metering.SigningKey
	for i := range stored {
		if stored[i].Version == version {
			sk = &stored[i]
		}
	}
	if sk == nil {
		priv, err := rsa.GenerateKey(rand.Reader, KeyBits)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		put, err := k.store.PutSigningKey(ctx, metering.SigningKey{
			Version:       version,
			PrivateKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
			CreatedAt:     k.clock.Now(),
		}, false)
		if err != nil {
			return nil, err
		}
		sk = &put
	}
	priv, err := parsePrivate(sk.PrivateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("register-usage key %d: %w", version, err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.PS256, Key: priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", strconv.Itoa(version)))
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	c := &key{
		private: priv,
		signer:  signer,
		created: sk.CreatedAt,
		public:  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
	}
	k.keys[version] = c
	return c, nil
}

// SignRegistration signs the claims with the key of their version.
func (k *Keys) SignRegistration(ctx context.Context, c metering.RegistrationClaims) (string, error) {
	key, err := k.get(ctx, c.PublicKeyVersion)
	if err != nil {
		return "", err
	}
	claims := map[string]any{
		"productCode":      c.ProductCode,
		"publicKeyVersion": c.PublicKeyVersion,
		"nonce":            c.Nonce,
		"iat":              c.IssuedAt.Unix(),
	}
	return jwt.Signed(key.signer).Claims(claims).Serialize()
}

// KeyCreated is when the key of version was created or loaded.
func (k *Keys) KeyCreated(ctx context.Context, version int) (time.Time, error) {
	key, err := k.get(ctx, version)
	if err != nil {
		return time.Time{}, err
	}
	return key.created, nil
}

// PublicKeyPEM returns the PKIX PEM public key of version.
func (k *Keys) PublicKeyPEM(ctx context.Context, version int) ([]byte, error) {
	key, err := k.get(ctx, version)
	if err != nil {
		return nil, err
	}
	return key.public, nil
}

// Handler serves GET /keys/register-usage/{version}.pem for the versions
// known reports, so a seller downloads the key once and embeds it.
func (k *Keys) Handler(known func(version int) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("file")
		version, err := strconv.Atoi(strings.TrimSuffix(name, ".pem"))
		if !strings.HasSuffix(name, ".pem") || err != nil || version < 1 || !known(version) {
			http.Error(w, "no such public key version", http.StatusNotFound)
			return
		}
		pub, err := k.PublicKeyPEM(r.Context(), version)
		if err != nil {
			http.Error(w, "key unavailable", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(pub)
	})
}
