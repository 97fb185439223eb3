package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/metering"
)

var (
	_ metering.RegistrationStore = (*DB)(nil)
	_ metering.SigningKeyStore   = (*DB)(nil)
)

// Registered reports whether resource registered for product before, on
// any replica.
func (db *DB) Registered(ctx context.Context, resource, product string) (bool, error) {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	var one int
	err := db.pool.QueryRow(ctx, `SELECT 1 FROM registrations WHERE resource = $1 AND product_code = $2`, resource, product).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("postgres: registered: %w", err)
	}
	return true, nil
}

// PutRegistration records a registration; a repeat keeps the first.
func (db *DB) PutRegistration(ctx context.Context, r metering.Registration) error {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `INSERT INTO registrations (resource, product_code, account_id, at)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, r.Resource, r.ProductCode, r.AccountID, millis(r.At))
	if err != nil {
		return fmt.Errorf("postgres: put registration: %w", err)
	}
	return nil
}

// SigningKeys returns every stored RegisterUsage key, by version.
func (db *DB) SigningKeys(ctx context.Context) ([]metering.SigningKey, error) {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	rows, _ := db.pool.Query(ctx, `SELECT version, private_key_pem, created FROM signing_keys ORDER BY version`)
	keys, err := pgx.CollectRows(rows, scanSigningKey)
	if err != nil {
		return nil, fmt.Errorf("postgres: signing keys: %w", err)
	}
	return keys, nil
}

// PutSigningKey stores k; without replace an existing key of its version
// wins, so replicas generating keys at once agree on one. Insert and read
// back are two statements: the snapshot of one statement would miss a key
// that another replica committed while the insert waited for it.
func (db *DB) PutSigningKey(ctx context.Context, k metering.SigningKey, replace bool) (metering.SigningKey, error) {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	q := `INSERT INTO signing_keys (version, private_key_pem, created) VALUES ($1, $2, $3) ON CONFLICT (version) DO NOTHING`
	if replace {
		q = `INSERT INTO signing_keys (version, private_key_pem, created) VALUES ($1, $2, $3)
			ON CONFLICT (version) DO UPDATE SET private_key_pem = excluded.private_key_pem, created = excluded.created`
	}
	if _, err := db.pool.Exec(ctx, q, k.Version, string(k.PrivateKeyPEM), millis(k.CreatedAt)); err != nil {
		return metering.SigningKey{}, fmt.Errorf("postgres: put signing key: %w", err)
	}
	rows, _ := db.pool.Query(ctx, `SELECT version, private_key_pem, created FROM signing_keys WHERE version = $1`, k.Version)
	got, err := pgx.CollectExactlyOneRow(rows, scanSigningKey)
	if err != nil {
		return metering.SigningKey{}, fmt.Errorf("postgres: put signing key: %w", err)
	}
	return got, nil
}

func scanSigningKey(row pgx.CollectableRow) (metering.SigningKey, error) {
	var (
		k       metering.SigningKey
		pem     string
		created time.Time
	)
	if err := row.Scan(&k.Version, &pem, &created); err != nil {
		return k, err
	}
	k.PrivateKeyPEM, k.CreatedAt = []byte(pem), created.UTC()
	return k, nil
}
