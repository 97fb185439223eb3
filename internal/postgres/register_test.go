package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/pgtest"
)

// TestRegistrations: a registration made through one replica is seen by
// the other; a repeat keeps the first.
func TestRegistrations(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	a, b := openClosed(t, dsn), openClosed(t, dsn)
	at := time.Date(2026, 3, 1, 10, 0, 0, 123_456_789, time.UTC)
	if ok, err := b.Registered(t.Context(), "task/1", "prod"); ok || err != nil {
		t.Fatalf("Registered before any registration: %v, %v", ok, err)
	}
	for range 2 {
		if err := a.PutRegistration(t.Context(), metering.Registration{Resource: "task/1", ProductCode: "prod", AccountID: "111111111111", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := b.Registered(t.Context(), "task/1", "prod"); !ok || err != nil {
		t.Fatalf("Registered on the other replica: %v, %v", ok, err)
	}
	if ok, err := b.Registered(t.Context(), "task/1", "other"); ok || err != nil {
		t.Fatalf("Registered for another product: %v, %v", ok, err)
	}
}

// TestSigningKeys: replicas generating a key version at once agree on one
// key; replace overwrites.
func TestSigningKeys(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	dbs := []interface {
		PutSigningKey(ctx context.Context, k metering.SigningKey, replace bool) (metering.SigningKey, error)
	}{openClosed(t, dsn), openClosed(t, dsn)}
	created := time.Date(2026, 3, 1, 10, 0, 0, 987_654_321, time.UTC)
	const n = 10
	got := make([]metering.SigningKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = dbs[i%2].PutSigningKey(t.Context(), metering.SigningKey{Version: 1, PrivateKeyPEM: fmt.Appendf(nil, "key-%d", i), CreatedAt: created}, false)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, k := range got {
		if string(k.PrivateKeyPEM) != string(got[0].PrivateKeyPEM) || !k.CreatedAt.Equal(created.Truncate(time.Millisecond)) || k.CreatedAt.Location() != time.UTC {
			t.Fatalf("caller %d got %q %v, caller 0 got %q", i, k.PrivateKeyPEM, k.CreatedAt, got[0].PrivateKeyPEM)
		}
	}
	k, err := dbs[1].PutSigningKey(t.Context(), metering.SigningKey{Version: 1, PrivateKeyPEM: []byte("rotated"), CreatedAt: created}, true)
	if err != nil || string(k.PrivateKeyPEM) != "rotated" {
		t.Fatalf("replace: %q, %v", k.PrivateKeyPEM, err)
	}
	if _, err := dbs[0].PutSigningKey(t.Context(), metering.SigningKey{Version: 3, PrivateKeyPEM: []byte("three"), CreatedAt: created}, false); err != nil {
		t.Fatal(err)
	}
	keys, err := openClosed(t, dsn).SigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Version != 1 || string(keys[0].PrivateKeyPEM) != "rotated" || keys[1].Version != 3 {
		t.Errorf("SigningKeys = %+v", keys)
	}
}
