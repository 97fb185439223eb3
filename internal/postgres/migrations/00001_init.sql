-- +goose Up

-- The same tables as internal/sqlite's first migration, in PostgreSQL's
-- types. Every text column is COLLATE "C": comparison and ORDER BY go byte
-- by byte, as in SQLite, whatever locale the cluster was created with, and
-- C comparisons are the cheapest. Times are timestamptz holding milliseconds
-- (the store truncates before writing); NULL stands for "never".

-- settings holds the scalar fields of metering.State (only region so far).
CREATE TABLE settings (
	name  text COLLATE "C" NOT NULL PRIMARY KEY,
	value text COLLATE "C" NOT NULL
);

CREATE TABLE accounts (
	id   text COLLATE "C" NOT NULL PRIMARY KEY,
	name text COLLATE "C" NOT NULL
);

CREATE TABLE access_keys (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	account_id text COLLATE "C" NOT NULL REFERENCES accounts (id),
	secret     text COLLATE "C" NOT NULL,
	resource   text COLLATE "C" NOT NULL,
	platform   text COLLATE "C" NOT NULL
);

-- Dimensions and public key versions are arrays: read and replaced whole,
-- order kept.
CREATE TABLE products (
	code                text COLLATE "C" NOT NULL PRIMARY KEY,
	seller              text COLLATE "C" NOT NULL REFERENCES accounts (id),
	type                text COLLATE "C" NOT NULL,
	agreements          text COLLATE "C" NOT NULL,
	dimensions          text[] COLLATE "C" NOT NULL,
	public_key_versions bigint[] NOT NULL
);

CREATE TABLE customers (
	product             text COLLATE "C" NOT NULL REFERENCES products (code),
	account_id          text COLLATE "C" NOT NULL,
	customer_identifier text COLLATE "C" NOT NULL,
	license_arn         text COLLATE "C" NOT NULL,
	status              text COLLATE "C" NOT NULL,
	PRIMARY KEY (product, account_id)
);

-- One row per entitlement; exactly one value column is set in a valid state,
-- but the store keeps whatever it is given.
CREATE TABLE entitlements (
	product       text COLLATE "C" NOT NULL,
	account_id    text COLLATE "C" NOT NULL,
	position      integer NOT NULL,
	dimension     text COLLATE "C" NOT NULL,
	integer_value bigint,
	double_value  double precision,
	boolean_value boolean,
	string_value  text COLLATE "C",
	expires       timestamptz,
	PRIMARY KEY (product, account_id, position),
	FOREIGN KEY (product, account_id) REFERENCES customers (product, account_id)
);

CREATE TABLE registration_tokens (
	token      text COLLATE "C" NOT NULL PRIMARY KEY,
	product    text COLLATE "C" NOT NULL,
	account_id text COLLATE "C" NOT NULL,
	expires_at timestamptz,
	FOREIGN KEY (product, account_id) REFERENCES customers (product, account_id)
);

-- Usage records: the only table that grows. No foreign keys: usage is
-- history and outlives reference data. The idempotency key is the primary
-- key, so INSERT ... ON CONFLICT (key) DO NOTHING decides first-write-wins
-- across every replica sharing the database. hour is ts truncated to the UTC
-- hour, stored because the summary index range-scans on it. allocations is
-- NULL when the record has none, else the compact JSON of internal/sqlite:
-- [[quantity, ["key","value",...]], [quantity]].
CREATE TABLE usage_records (
	key                 text COLLATE "C" NOT NULL PRIMARY KEY,
	id                  text COLLATE "C" NOT NULL,
	fingerprint         text COLLATE "C" NOT NULL,
	operation           text COLLATE "C" NOT NULL,
	seller              text COLLATE "C" NOT NULL,
	product_code        text COLLATE "C" NOT NULL,
	identity            text COLLATE "C" NOT NULL,
	customer_account_id text COLLATE "C" NOT NULL,
	customer_identifier text COLLATE "C" NOT NULL,
	license_arn         text COLLATE "C" NOT NULL,
	resource            text COLLATE "C" NOT NULL,
	caller_account_id   text COLLATE "C" NOT NULL,
	access_key_id       text COLLATE "C" NOT NULL,
	client_token        text COLLATE "C" NOT NULL,
	dimension           text COLLATE "C" NOT NULL,
	ts                  timestamptz NOT NULL,
	hour                timestamptz NOT NULL,
	quantity            bigint NOT NULL,
	allocations         text COLLATE "C",
	created_at          timestamptz NOT NULL
);
CREATE INDEX usage_records_product_hour ON usage_records (product_code, hour);

-- +goose Down
DROP TABLE usage_records;
DROP TABLE registration_tokens;
DROP TABLE entitlements;
DROP TABLE customers;
DROP TABLE products;
DROP TABLE access_keys;
DROP TABLE accounts;
DROP TABLE settings;
