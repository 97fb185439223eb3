-- +goose Up

-- Workloads that called RegisterUsage: entitlement is checked on a task's
-- first call only, on whichever replica it comes.
CREATE TABLE registrations (
	resource     text COLLATE "C" NOT NULL,
	product_code text COLLATE "C" NOT NULL,
	account_id   text COLLATE "C" NOT NULL,
	at           timestamptz NOT NULL,
	PRIMARY KEY (resource, product_code)
);

-- RegisterUsage signing keys, one per public-key version, shared by every
-- replica so that they all sign with the same key.
CREATE TABLE signing_keys (
	version         integer NOT NULL PRIMARY KEY,
	private_key_pem text COLLATE "C" NOT NULL,
	created         timestamptz NOT NULL
);

-- +goose Down
DROP TABLE signing_keys;
DROP TABLE registrations;
