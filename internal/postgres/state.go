package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/metering"
)

// ApplyState upserts the entities named in st in one transaction, sent as
// pipelines of up to stateBatch statements. A named customer's entitlements
// are deleted and written again, since they are replaced whole.
func (db *DB) ApplyState(ctx context.Context, st metering.State) (err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("postgres: apply state: %w", err)
		}
	}()
	// The bound is per pipeline of statements, not for the whole state: a
	// million customers take minutes, and are no sign of an outage.
	ctx, cancel := context.WithTimeout(ctx, db.timeout*time.Duration(1+stateStatements(st)/stateBatch))
	defer cancel()
	return pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		p := &pipeline{ctx: ctx, tx: tx}
		if err := queueState(p, st); err != nil {
			return err
		}
		return p.flush()
	})
}

// stateStatements is about how many statements ApplyState sends for st.
func stateStatements(st metering.State) int {
	n := len(st.Accounts) + len(st.Products) + len(st.Customers) + len(st.RegistrationTokens)
	for _, a := range st.Accounts {
		n += len(a.AccessKeys)
	}
	for _, c := range st.Customers {
		n += len(c.Entitlements)
	}
	return n
}

// loadRowsPerTimeout is how many customers LoadState reads per Timeout it
// allows itself, well under what a slow server reads in that time.
const loadRowsPerTimeout = 20_000

// stateBatch is how many statements ApplyState sends in one pipeline: a
// state of a million customers as one pipeline held all its statements
// and their encoding in memory at once, some GB.
const stateBatch = 4096

// pipeline sends the statements queued on it in batches.
type pipeline struct {
	ctx   context.Context
	tx    pgx.Tx
	batch pgx.Batch
	// what names each statement of batch, for errors.
	what []string
}

// queue adds a statement, sending the batch when it is full.
func (p *pipeline) queue(name, q string, args ...any) error {
	p.batch.Queue(q, args...)
	p.what = append(p.what, name)
	if p.batch.Len() < stateBatch {
		return nil
	}
	return p.flush()
}

// flush sends the queued statements and reads their results.
func (p *pipeline) flush() error {
	if p.batch.Len() == 0 {
		return nil
	}
	br := p.tx.SendBatch(p.ctx, &p.batch)
	// The results refer to the batch until closed.
	defer func() { p.batch, p.what = pgx.Batch{}, p.what[:0] }()
	for _, name := range p.what {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return br.Close()
}

func queueState(p *pipeline, st metering.State) error {
	// Every apply bumps the state version, so that other replicas notice
	// and reload their catalogs (metering.StateVersioner).
	if err := p.queue("state version", `INSERT INTO settings (name, value) VALUES ('state_version', '1')
		ON CONFLICT (name) DO UPDATE SET value = (settings.value::bigint + 1)::text`); err != nil {
		return err
	}
	if st.Region != "" {
		if err := p.queue("region", `INSERT INTO settings (name, value) VALUES ('region', $1)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, st.Region); err != nil {
			return err
		}
	}
	for _, a := range st.Accounts {
		if err := p.queue("account "+a.ID, `INSERT INTO accounts (id, name) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name`, a.ID, a.Name); err != nil {
			return err
		}
		for _, k := range a.AccessKeys {
			if err := p.queue("access key "+k.ID, `INSERT INTO access_keys (id, account_id, secret, resource, platform) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (id) DO UPDATE SET account_id = excluded.account_id, secret = excluded.secret,
					resource = excluded.resource, platform = excluded.platform`,
				k.ID, a.ID, k.Secret, k.Resource, string(k.Platform)); err != nil {
				return err
			}
		}
	}
	for _, pr := range st.Products {
		versions := make([]int64, len(pr.PublicKeyVersions))
		for i, v := range pr.PublicKeyVersions {
			versions[i] = int64(v)
		}
		if err := p.queue("product "+pr.Code, `INSERT INTO products (code, seller, type, agreements, dimensions, public_key_versions, fulfillment_url, webhooks)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (code) DO UPDATE SET seller = excluded.seller, type = excluded.type, agreements = excluded.agreements,
				dimensions = excluded.dimensions, public_key_versions = excluded.public_key_versions,
				fulfillment_url = excluded.fulfillment_url, webhooks = excluded.webhooks`,
			pr.Code, pr.Seller, string(pr.Type), string(pr.Agreements), nonNil(pr.Dimensions), versions, pr.FulfillmentURL, nonNil(pr.Webhooks)); err != nil {
			return err
		}
	}
	for ci := range st.Customers {
		c := &st.Customers[ci]
		name := fmt.Sprintf("customer %s of %s", c.AccountID, c.Product)
		if err := p.queue(name, `INSERT INTO customers (product, account_id, customer_identifier, license_arn, status, offer_id, free_trial, pending_until)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (product, account_id) DO UPDATE SET customer_identifier = excluded.customer_identifier,
				license_arn = excluded.license_arn, status = excluded.status, offer_id = excluded.offer_id,
				free_trial = excluded.free_trial, pending_until = excluded.pending_until`,
			c.Product, c.AccountID, c.CustomerIdentifier, c.LicenseArn, string(c.Status), c.OfferID, c.FreeTrial, nullTime(c.PendingUntil)); err != nil {
			return err
		}
		if err := p.queue(name, `DELETE FROM entitlements WHERE product = $1 AND account_id = $2`, c.Product, c.AccountID); err != nil {
			return err
		}
		for i, e := range c.Entitlements {
			v := e.Value
			if err := p.queue(fmt.Sprintf("%s: entitlement %d", name, i), `INSERT INTO entitlements (product, account_id, position, dimension,
					integer_value, double_value, boolean_value, string_value, expires)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				c.Product, c.AccountID, i, e.Dimension, v.Integer, v.Double, v.Boolean, v.String, nullTime(e.Expires)); err != nil {
				return err
			}
		}
	}
	for _, t := range st.RegistrationTokens {
		if err := p.queue("registration token", `INSERT INTO registration_tokens (token, product, account_id, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (token) DO UPDATE SET product = excluded.product, account_id = excluded.account_id,
				expires_at = excluded.expires_at`,
			t.Token, t.Product, t.AccountID, nullTime(t.ExpiresAt)); err != nil {
			return err
		}
	}
	return nil
}

// LoadState reads all reference data in one read-only REPEATABLE READ
// transaction, so that it sees one consistent snapshot even while another
// replica applies a state.
func (db *DB) LoadState(ctx context.Context) (st metering.State, err error) {
	// A million customers take longer than one Timeout to read: the bound
	// grows with them, client side and server side.
	var customers int
	cctx, cancel := db.withTimeout(ctx)
	err = db.pool.QueryRow(cctx, `SELECT count(*) FROM customers`).Scan(&customers)
	cancel()
	if err != nil {
		return metering.State{}, fmt.Errorf("postgres: load state: %w", err)
	}
	bound := db.timeout * time.Duration(1+customers/loadRowsPerTimeout)
	ctx, cancel = context.WithTimeout(ctx, bound)
	defer cancel()
	err = pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if bound > db.timeout {
			if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", bound.Milliseconds())); err != nil {
				return err
			}
		}
		var err error
		st, err = loadState(ctx, tx)
		return err
	})
	if err != nil {
		return metering.State{}, fmt.Errorf("postgres: load state: %w", err)
	}
	return st, nil
}

func loadState(ctx context.Context, tx pgx.Tx) (st metering.State, err error) {
	err = tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = 'region'`).Scan(&st.Region)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return st, err
	}

	accounts := map[string]int{}
	err = each(ctx, tx, `SELECT id, name FROM accounts ORDER BY id`, func(rows pgx.Rows) error {
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
	err = each(ctx, tx, `SELECT id, account_id, secret, resource, platform FROM access_keys ORDER BY account_id, id`, func(rows pgx.Rows) error {
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

	err = each(ctx, tx, `SELECT code, seller, type, agreements, dimensions, public_key_versions, fulfillment_url, webhooks
		FROM products ORDER BY code`, func(rows pgx.Rows) error {
		var (
			p               metering.Product
			typ, agreements string
			versions        []int64
		)
		if err := rows.Scan(&p.Code, &p.Seller, &typ, &agreements, &p.Dimensions, &versions, &p.FulfillmentURL, &p.Webhooks); err != nil {
			return err
		}
		p.Type, p.Agreements = metering.ProductType(typ), metering.AgreementMode(agreements)
		p.Dimensions, p.Webhooks = nilIfEmpty(p.Dimensions), nilIfEmpty(p.Webhooks)
		for _, v := range versions {
			p.PublicKeyVersions = append(p.PublicKeyVersions, int(v))
		}
		st.Products = append(st.Products, p)
		return nil
	})
	if err != nil {
		return st, err
	}

	// A million customers are most of the state: their slice is made to
	// size, and their repeated strings are kept once.
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM customers`).Scan(&n); err != nil {
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
		pending *time.Time
	)
	err = each(ctx, tx, `SELECT product, account_id, customer_identifier, license_arn, status, offer_id, free_trial, pending_until
		FROM customers ORDER BY product, account_id`, func(rows pgx.Rows) error {
		st.Customers = append(st.Customers, metering.Customer{})
		c := &st.Customers[len(st.Customers)-1]
		if err := rows.Scan(&c.Product, &c.AccountID, &c.CustomerIdentifier, &c.LicenseArn, &status, &c.OfferID, &c.FreeTrial, &pending); err != nil {
			return err
		}
		c.Product = intern.Get(c.Product)
		c.PendingUntil = fromNull(pending)
		c.Status = metering.SubscriptionStatus(intern.Get(status))
		return nil
	})
	if err != nil {
		return st, err
	}
	owner := metering.CustomerFinder{Customers: st.Customers}
	err = each(ctx, tx, `SELECT product, account_id, dimension, integer_value, double_value, boolean_value, string_value, expires
		FROM entitlements ORDER BY product, account_id, position`, func(rows pgx.Rows) error {
		var (
			product, account string
			e                metering.Entitlement
			expires          *time.Time
		)
		v := &e.Value
		if err := rows.Scan(&product, &account, &e.Dimension, &v.Integer, &v.Double, &v.Boolean, &v.String, &expires); err != nil {
			return err
		}
		e.Dimension = intern.Get(e.Dimension)
		e.Expires = fromNull(expires)
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

	err = each(ctx, tx, `SELECT token, product, account_id, expires_at FROM registration_tokens ORDER BY token`, func(rows pgx.Rows) error {
		var (
			t       metering.RegistrationToken
			expires *time.Time
		)
		if err := rows.Scan(&t.Token, &t.Product, &t.AccountID, &expires); err != nil {
			return err
		}
		t.ExpiresAt = fromNull(expires)
		st.RegistrationTokens = append(st.RegistrationTokens, t)
		return nil
	})
	return st, err
}

// each runs q and calls scan for every row.
func each(ctx context.Context, tx pgx.Tx, q string, scan func(pgx.Rows) error) error {
	rows, _ := tx.Query(ctx, q)
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// nonNil makes nil an empty list: the array columns are NOT NULL.
func nonNil[E any](s []E) []E {
	if s == nil {
		return []E{}
	}
	return s
}

func nilIfEmpty[E any](s []E) []E {
	if len(s) == 0 {
		return nil
	}
	return s
}

// nullTime is a time as the schema stores it: milliseconds, NULL for the
// zero time ("never").
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	m := millis(t)
	return &m
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
