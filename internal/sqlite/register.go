package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

var (
	_ metering.RegistrationStore = (*DB)(nil)
	_ metering.SigningKeyStore   = (*DB)(nil)
)

// Registered reports whether resource registered for product before.
func (db *DB) Registered(ctx context.Context, resource, product string) (bool, error) {
	var one int
	err := db.read.QueryRowContext(ctx, `SELECT 1 FROM registrations WHERE resource = ? AND product_code = ?`, resource, product).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: registered: %w", err)
	}
	return true, nil
}

// PutRegistration records a registration; a repeat keeps the first.
func (db *DB) PutRegistration(ctx context.Context, r metering.Registration) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO registrations (resource, product_code, account_id, at_ms)
		VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, r.Resource, r.ProductCode, r.AccountID, r.At.UnixMilli())
	if err != nil {
		return fmt.Errorf("sqlite: put registration: %w", err)
	}
	return nil
}

// SigningKeys returns every stored RegisterUsage key, by version.
func (db *DB) SigningKeys(ctx context.Context) ([]metering.SigningKey, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT version, private_key_pem, created_ms FROM signing_keys ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: signing keys: %w", err)
	}
	defer rows.Close()
	var keys []metering.SigningKey
	for rows.Next() {
		var k metering.SigningKey
		var pem string
		var ms int64
		if err := rows.Scan(&k.Version, &pem, &ms); err != nil {
			return nil, fmt.Errorf("sqlite: signing keys: %w", err)
		}
		k.PrivateKeyPEM, k.CreatedAt = []byte(pem), time.UnixMilli(ms).UTC()
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

// PutSigningKey stores k; without replace an existing key of its version
// wins, so replicas generating keys at once agree on one.
func (db *DB) PutSigningKey(ctx context.Context, k metering.SigningKey, replace bool) (metering.SigningKey, error) {
	q := `INSERT INTO signing_keys (version, private_key_pem, created_ms) VALUES (?, ?, ?) ON CONFLICT (version) DO NOTHING`
	if replace {
		q = `INSERT INTO signing_keys (version, private_key_pem, created_ms) VALUES (?, ?, ?)
			ON CONFLICT (version) DO UPDATE SET private_key_pem = excluded.private_key_pem, created_ms = excluded.created_ms`
	}
	if _, err := db.write.ExecContext(ctx, q, k.Version, string(k.PrivateKeyPEM), k.CreatedAt.UnixMilli()); err != nil {
		return metering.SigningKey{}, fmt.Errorf("sqlite: put signing key: %w", err)
	}
	var pem string
	var ms int64
	if err := db.read.QueryRowContext(ctx, `SELECT private_key_pem, created_ms FROM signing_keys WHERE version = ?`, k.Version).Scan(&pem, &ms); err != nil {
		return metering.SigningKey{}, fmt.Errorf("sqlite: put signing key: %w", err)
	}
	return metering.SigningKey{Version: k.Version, PrivateKeyPEM: []byte(pem), CreatedAt: time.UnixMilli(ms).UTC()}, nil
}
