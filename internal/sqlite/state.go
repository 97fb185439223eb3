package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// ApplyState upserts the entities named in st in one transaction. Upserts
// (ON CONFLICT DO UPDATE), not INSERT OR REPLACE: a replace deletes the row
// first, which foreign keys would refuse or cascade. A named customer's
// entitlements are deleted and written again, since they are replaced whole.
func (db *DB) ApplyState(ctx context.Context, st metering.State) (err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: apply state: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that matters is err
			err = fmt.Errorf("sqlite: apply state: %w", err)
		}
	}()
	exec := func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}

	// Every apply bumps the state version, so that other processes on the
	// file (meterd usage, a second server) notice and reload.
	if err := exec(`INSERT INTO settings (name, value) VALUES ('state_version', '1')
		ON CONFLICT (name) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)`); err != nil {
		return err
	}
	if st.Region != "" {
		if err := exec(`INSERT INTO settings (name, value) VALUES ('region', ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, st.Region); err != nil {
			return err
		}
	}
	for _, a := range st.Accounts {
		if err := exec(`INSERT INTO accounts (id, name) VALUES (?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name`, a.ID, a.Name); err != nil {
			return fmt.Errorf("account %s: %w", a.ID, err)
		}
		for _, k := range a.AccessKeys {
			if err := exec(`INSERT INTO access_keys (id, account_id, secret, resource, platform) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, secret = excluded.secret,
					resource = excluded.resource, platform = excluded.platform`,
				k.ID, a.ID, k.Secret, k.Resource, string(k.Platform)); err != nil {
				return fmt.Errorf("access key %s: %w", k.ID, err)
			}
		}
	}
	for _, p := range st.Products {
		dims, err := jsonList(p.Dimensions)
		if err != nil {
			return err
		}
		versions, err := jsonList(p.PublicKeyVersions)
		if err != nil {
			return err
		}
		hooks, err := jsonList(p.Webhooks)
		if err != nil {
			return err
		}
		if err := exec(`INSERT INTO products (code, seller, type, agreements, dimensions, public_key_versions, fulfillment_url, webhooks)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (code) DO UPDATE SET seller = excluded.seller, type = excluded.type, agreements = excluded.agreements,
				dimensions = excluded.dimensions, public_key_versions = excluded.public_key_versions,
				fulfillment_url = excluded.fulfillment_url, webhooks = excluded.webhooks`,
			p.Code, p.Seller, string(p.Type), string(p.Agreements), dims, versions, p.FulfillmentURL, hooks); err != nil {
			return fmt.Errorf("product %s: %w", p.Code, err)
		}
	}
	if len(st.Customers) > 0 {
		if err := applyCustomers(ctx, tx, st.Customers); err != nil {
			return err
		}
	}
	for _, t := range st.RegistrationTokens {
		if err := exec(`INSERT INTO registration_tokens (token, product, account_id, expires_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (token) DO UPDATE SET product = excluded.product, account_id = excluded.account_id,
				expires_at = excluded.expires_at`,
			t.Token, t.Product, t.AccountID, millis(t.ExpiresAt)); err != nil {
			return fmt.Errorf("registration token: %w", err)
		}
	}
	return tx.Commit()
}

// applyCustomers upserts customers and replaces their entitlements. Its
// statements are prepared once: a state may name a million customers.
func applyCustomers(ctx context.Context, tx *sql.Tx, customers []metering.Customer) error {
	upsert, err := tx.PrepareContext(ctx, `INSERT INTO customers (product, account_id, customer_identifier, license_arn, status, offer_id, free_trial, pending_until)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (product, account_id) DO UPDATE SET customer_identifier = excluded.customer_identifier,
			license_arn = excluded.license_arn, status = excluded.status, offer_id = excluded.offer_id,
			free_trial = excluded.free_trial, pending_until = excluded.pending_until`)
	if err != nil {
		return err
	}
	defer upsert.Close()
	drop, err := tx.PrepareContext(ctx, `DELETE FROM entitlements WHERE product = ? AND account_id = ?`)
	if err != nil {
		return err
	}
	defer drop.Close()
	insert, err := tx.PrepareContext(ctx, `INSERT INTO entitlements (product, account_id, position, dimension,
			integer_value, double_value, boolean_value, string_value, expires)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer insert.Close()
	for ci := range customers {
		c := &customers[ci]
		if _, err := upsert.ExecContext(ctx, c.Product, c.AccountID, c.CustomerIdentifier, c.LicenseArn, string(c.Status), c.OfferID, c.FreeTrial, millis(c.PendingUntil)); err != nil {
			return fmt.Errorf("customer %s of %s: %w", c.AccountID, c.Product, err)
		}
		if _, err := drop.ExecContext(ctx, c.Product, c.AccountID); err != nil {
			return err
		}
		for i, e := range c.Entitlements {
			v := e.Value
			if _, err := insert.ExecContext(ctx, c.Product, c.AccountID, i, e.Dimension, v.Integer, v.Double, v.Boolean, v.String, millis(e.Expires)); err != nil {
				return fmt.Errorf("customer %s of %s: entitlement %d: %w", c.AccountID, c.Product, i, err)
			}
		}
	}
	return nil
}

// LoadState reads all reference data in one read transaction, so that it
// sees one consistent snapshot even while ApplyState runs.
func (db *DB) LoadState(ctx context.Context) (st metering.State, err error) {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return metering.State{}, fmt.Errorf("sqlite: load state: %w", err)
	}
	defer func() {
		_ = tx.Rollback() // read only: nothing to keep
		if err != nil {
			st, err = metering.State{}, fmt.Errorf("sqlite: load state: %w", err)
		}
	}()

	err = tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = 'region'`).Scan(&st.Region)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, err
	}

	accounts := map[string]int{}
	err = each(ctx, tx, `SELECT id, name FROM accounts ORDER BY id`, func(rows *sql.Rows) error {
		var a metering.Account
		if err := rows.Scan(&a.ID, &a.Name); err != nil {
			return err
		}
		accounts[a.ID] = len(st.Accounts)
		st.Accounts = append(st.Accounts, a)
		return nil
	})
	if err != nil {
		return st, err
	}
	err = each(ctx, tx, `SELECT id, account_id, secret, resource, platform FROM access_keys ORDER BY account_id, id`, func(rows *sql.Rows) error {
		var (
			k        metering.AccessKey
			platform string
		)
		if err := rows.Scan(&k.ID, &k.AccountID, &k.Secret, &k.Resource, &platform); err != nil {
			return err
		}
		k.Platform = metering.Platform(platform)
		i, ok := accounts[k.AccountID]
		if !ok {
			return fmt.Errorf("access key %s: no account %s", k.ID, k.AccountID)
		}
		st.Accounts[i].AccessKeys = append(st.Accounts[i].AccessKeys, k)
		return nil
	})
	if err != nil {
		return st, err
	}

	err = each(ctx, tx, `SELECT code, seller, type, agreements, dimensions, public_key_versions, fulfillment_url, webhooks FROM products ORDER BY code`, func(rows *sql.Rows) error {
		var (
			p                              metering.Product
			typ, agreements                string
			dimensions, keyVersions, hooks string
		)
		if err := rows.Scan(&p.Code, &p.Seller, &typ, &agreements, &dimensions, &keyVersions, &p.FulfillmentURL, &hooks); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(hooks), &p.Webhooks); err != nil {
			return fmt.Errorf("product %s: webhooks: %w", p.Code, err)
		}
		p.Webhooks = nilIfEmpty(p.Webhooks)
		p.Type, p.Agreements = metering.ProductType(typ), metering.AgreementMode(agreements)
		if err := json.Unmarshal([]byte(dimensions), &p.Dimensions); err != nil {
			return fmt.Errorf("product %s: dimensions: %w", p.Code, err)
		}
		if err := json.Unmarshal([]byte(keyVersions), &p.PublicKeyVersions); err != nil {
			return fmt.Errorf("product %s: public key versions: %w", p.Code, err)
		}
		p.Dimensions, p.PublicKeyVersions = nilIfEmpty(p.Dimensions), nilIfEmpty(p.PublicKeyVersions)
		st.Products = append(st.Products, p)
		return nil
	})
	if err != nil {
		return st, err
	}

	// A million customers are most of the state: their slice is made to
	// size, and their repeated strings are kept once.
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM customers`).Scan(&n); err != nil {
		return st, err
	}
	if n > 0 {
		st.Customers = make([]metering.Customer, 0, n)
	}
	intern := metering.Interner{}
	// Rows are scanned into the slice and these, not into a Customer of
	// their own, which Scan would make escape: a heap copy per row.
	var (
		status  string
		pending sql.Null[int64]
	)
	err = each(ctx, tx, `SELECT product, account_id, customer_identifier, license_arn, status, offer_id, free_trial, pending_until
		FROM customers ORDER BY product, account_id`, func(rows *sql.Rows) error {
		st.Customers = append(st.Customers, metering.Customer{})
		c := &st.Customers[len(st.Customers)-1]
		if err := rows.Scan(&c.Product, &c.AccountID, &c.CustomerIdentifier, &c.LicenseArn, &status, &c.OfferID, &c.FreeTrial, &pending); err != nil {
			return err
		}
		c.Product = intern.Get(c.Product)
		c.PendingUntil = fromMillis(pending)
		c.Status = metering.SubscriptionStatus(intern.Get(status))
		return nil
	})
	if err != nil {
		return st, err
	}
	owner := metering.CustomerFinder{Customers: st.Customers}
	err = each(ctx, tx, `SELECT product, account_id, dimension, integer_value, double_value, boolean_value, string_value, expires
		FROM entitlements ORDER BY product, account_id, position`, func(rows *sql.Rows) error {
		var (
			product, account string
			e                metering.Entitlement
			i                sql.Null[int64]
			d                sql.Null[float64]
			b                sql.Null[bool]
			s                sql.Null[string]
			expires          sql.Null[int64]
		)
		if err := rows.Scan(&product, &account, &e.Dimension, &i, &d, &b, &s, &expires); err != nil {
			return err
		}
		e.Dimension = intern.Get(e.Dimension)
		e.Value = metering.EntitlementValue{Integer: ptrIf(i), Double: ptrIf(d), Boolean: ptrIf(b), String: ptrIf(s)}
		e.Expires = fromMillis(expires)
		c, ok := owner.Find(product, account)
		if !ok {
			return fmt.Errorf("entitlement of %s on %s: no such customer", account, product)
		}
		st.Customers[c].Entitlements = append(st.Customers[c].Entitlements, e)
		return nil
	})
	if err != nil {
		return st, err
	}

	err = each(ctx, tx, `SELECT token, product, account_id, expires_at FROM registration_tokens ORDER BY token`, func(rows *sql.Rows) error {
		var (
			t       metering.RegistrationToken
			expires sql.Null[int64]
		)
		if err := rows.Scan(&t.Token, &t.Product, &t.AccountID, &expires); err != nil {
			return err
		}
		t.ExpiresAt = fromMillis(expires)
		st.RegistrationTokens = append(st.RegistrationTokens, t)
		return nil
	})
	return st, err
}

// each runs q and calls scan for every row.
func each(ctx context.Context, tx *sql.Tx, q string, scan func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// jsonList encodes a list as a JSON array, nil as [] (LoadState reads both
// back as nil).
func jsonList[E any](s []E) (string, error) {
	if s == nil {
		return "[]", nil
	}
	b, err := json.Marshal(s)
	return string(b), err
}

func nilIfEmpty[E any](s []E) []E {
	if len(s) == 0 {
		return nil
	}
	return s
}

func ptrIf[T any](n sql.Null[T]) *T {
	if !n.Valid {
		return nil
	}
	return &n.V
}

// millis is a time as the schema stores it: unix milliseconds, NULL for the
// zero time ("never").
func millis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func fromMillis(n sql.Null[int64]) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMilli(n.V).UTC()
}
