-- +goose Up

-- Workloads that called RegisterUsage: entitlement is checked on a task's
-- first call only.
CREATE TABLE registrations (
	resource     TEXT NOT NULL,
	product_code TEXT NOT NULL,
	account_id   TEXT NOT NULL,
	at_ms        INTEGER NOT NULL,
	PRIMARY KEY (resource, product_code)
) WITHOUT ROWID;

-- RegisterUsage signing keys, one per public-key version.
CREATE TABLE signing_keys (
	version         INTEGER NOT NULL PRIMARY KEY,
	private_key_pem TEXT NOT NULL,
	created_ms      INTEGER NOT NULL
);

-- +goose Down
DROP TABLE signing_keys;
DROP TABLE registrations;
