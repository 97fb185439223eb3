-- +goose Up

-- Reference data. Natural keys are the primary keys (WITHOUT ROWID): the
-- tables are small, always looked up by those keys, and a rowid would only
-- add a second copy of each key in a unique index.

-- settings holds the scalar fields of metering.State (only region so far).
CREATE TABLE settings (
	name  TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE accounts (
	id   TEXT NOT NULL PRIMARY KEY,
	name TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE access_keys (
	id         TEXT NOT NULL PRIMARY KEY,
	account_id TEXT NOT NULL REFERENCES accounts (id),
	secret     TEXT NOT NULL,
	resource   TEXT NOT NULL,
	platform   TEXT NOT NULL
) WITHOUT ROWID;

-- A product's dimensions and public key versions are JSON arrays: they are
-- only ever read and replaced whole, and the order is kept for free.
CREATE TABLE products (
	code                TEXT NOT NULL PRIMARY KEY,
	seller              TEXT NOT NULL REFERENCES accounts (id),
	type                TEXT NOT NULL,
	agreements          TEXT NOT NULL,
	dimensions          TEXT NOT NULL,
	public_key_versions TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE customers (
	product             TEXT NOT NULL REFERENCES products (code),
	account_id          TEXT NOT NULL,
	customer_identifier TEXT NOT NULL,
	license_arn         TEXT NOT NULL,
	status              TEXT NOT NULL,
	PRIMARY KEY (product, account_id)
) WITHOUT ROWID;

-- One row per entitlement; exactly one value column is set in a valid state,
-- but the store keeps whatever it is given. Times are unix milliseconds,
-- NULL for "never".
CREATE TABLE entitlements (
	product       TEXT    NOT NULL,
	account_id    TEXT    NOT NULL,
	position      INTEGER NOT NULL,
	dimension     TEXT    NOT NULL,
	integer_value INTEGER,
	double_value  REAL,
	boolean_value INTEGER,
	string_value  TEXT,
	expires       INTEGER,
	PRIMARY KEY (product, account_id, position),
	FOREIGN KEY (product, account_id) REFERENCES customers (product, account_id)
) WITHOUT ROWID;

CREATE TABLE registration_tokens (
	token      TEXT NOT NULL PRIMARY KEY,
	product    TEXT NOT NULL,
	account_id TEXT NOT NULL,
	expires_at INTEGER,
	FOREIGN KEY (product, account_id) REFERENCES customers (product, account_id)
) WITHOUT ROWID;

-- Usage records: the only table that grows, so every byte counts. No
-- foreign keys: usage is history and outlives reference data. A rowid table
-- with a unique index on the idempotency key (ON CONFLICT (key) needs one)
-- beat key-as-primary-key WITHOUT ROWID when measured (444 against 470
-- bytes per record): the summary index then carries a rowid, not the key.
-- Only the two indexes the queries need. ts and created_at are unix
-- milliseconds; hour is the unix second of the UTC hour, stored because the
-- summary index range-scans on it. allocations is NULL when the record has
-- none, else compact JSON: [[quantity, ["key","value",...]], [quantity]],
-- where a missing second element stands for nil tags and [] for no tags.
CREATE TABLE usage_records (
	key                 TEXT    NOT NULL,
	id                  TEXT    NOT NULL,
	fingerprint         TEXT    NOT NULL,
	operation           TEXT    NOT NULL,
	seller              TEXT    NOT NULL,
	product_code        TEXT    NOT NULL,
	identity            TEXT    NOT NULL,
	customer_account_id TEXT    NOT NULL,
	customer_identifier TEXT    NOT NULL,
	license_arn         TEXT    NOT NULL,
	resource            TEXT    NOT NULL,
	caller_account_id   TEXT    NOT NULL,
	access_key_id       TEXT    NOT NULL,
	client_token        TEXT    NOT NULL,
	dimension           TEXT    NOT NULL,
	ts                  INTEGER NOT NULL,
	hour                INTEGER NOT NULL,
	quantity            INTEGER NOT NULL,
	allocations         TEXT,
	created_at          INTEGER NOT NULL
);
CREATE UNIQUE INDEX usage_records_key ON usage_records (key);
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
