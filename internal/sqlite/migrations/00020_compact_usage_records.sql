-- +goose Up

-- Compact usage records (issue 6): usage records are the only table that
-- grows with traffic, so a record should cost few bytes and its insert
-- should not grow dearer as the table grows.
--
-- usage_names keeps each string that records repeat (product codes, account
-- ids, customer identifiers, license ARNs, dimensions, access keys,
-- resources, operation and identity names) once; records name them by id,
-- which takes one to three bytes instead of 12 to 100. Id 0 is the empty
-- string, which SQLite stores in a record as a zero-byte integer.
CREATE TABLE usage_names (
	id   INTEGER PRIMARY KEY,
	name TEXT    NOT NULL UNIQUE
);
INSERT INTO usage_names (id, name) VALUES (0, '');

-- usage_rows holds the records. Columns named like usage_names ids hold
-- ids. key and fingerprint are the bytes metering makes (20 and 8), id and
-- client_token a 16-byte blob when they are a UUID in canonical lowercase
-- form, else their text. ts and created_at are unix milliseconds.
-- allocations is NULL or the compact JSON of 00001_init.sql.
--
-- The rowid is the record's UTC hour (hours since the epoch) times 2^32
-- plus a sequence number within the hour, which the store assigns: a table
-- clustered by hour, so that an hour's records are read as one range and
-- new records append at the end of their hour. The unique index on key is
-- the only index: with metering's hour-first keys its inserts land at the
-- end of their hour too.
CREATE TABLE usage_rows (
	key          BLOB    NOT NULL,
	id           BLOB    NOT NULL,
	fingerprint  BLOB    NOT NULL,
	operation    INTEGER NOT NULL,
	identity     INTEGER NOT NULL,
	seller       INTEGER NOT NULL,
	product      INTEGER NOT NULL,
	account      INTEGER NOT NULL,
	identifier   INTEGER NOT NULL,
	license      INTEGER NOT NULL,
	resource     INTEGER NOT NULL,
	caller       INTEGER NOT NULL,
	access_key   INTEGER NOT NULL,
	client_token BLOB    NOT NULL,
	dimension    INTEGER NOT NULL,
	ts           INTEGER NOT NULL,
	quantity     INTEGER NOT NULL,
	allocations  TEXT,
	created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX usage_rows_key ON usage_rows (key);

-- Records stored before this migration. Keys keep their text for now (as
-- bytes); the next migration (a Go one, 00021) rewrites them in the
-- current format. Fingerprints were 16 bytes in hex; metering keeps the
-- first 8.
INSERT INTO usage_names (name)
SELECT operation FROM usage_records UNION SELECT identity FROM usage_records
UNION SELECT seller FROM usage_records UNION SELECT product_code FROM usage_records
UNION SELECT customer_account_id FROM usage_records UNION SELECT customer_identifier FROM usage_records
UNION SELECT license_arn FROM usage_records UNION SELECT resource FROM usage_records
UNION SELECT caller_account_id FROM usage_records UNION SELECT access_key_id FROM usage_records
UNION SELECT dimension FROM usage_records
EXCEPT SELECT name FROM usage_names;

INSERT INTO usage_rows (rowid, key, id, fingerprint, operation, identity, seller, product, account, identifier,
	license, resource, caller, access_key, client_token, dimension, ts, quantity, allocations, created_at)
SELECT
	(r.hour / 3600) * 4294967296 + row_number() OVER (PARTITION BY r.hour ORDER BY r.rowid),
	CAST(r.key AS BLOB),
	CASE WHEN length(r.id) = 36 AND r.id = lower(r.id) AND substr(r.id, 9, 1) = '-' AND substr(r.id, 14, 1) = '-'
		AND substr(r.id, 19, 1) = '-' AND substr(r.id, 24, 1) = '-' AND length(replace(r.id, '-', '')) = 32
		THEN coalesce(unhex(replace(r.id, '-', '')), r.id) ELSE r.id END,
	CASE WHEN length(r.fingerprint) = 32 AND unhex(r.fingerprint) IS NOT NULL THEN substr(unhex(r.fingerprint), 1, 8)
		ELSE CAST(r.fingerprint AS BLOB) END,
	(SELECT id FROM usage_names WHERE name = r.operation),
	(SELECT id FROM usage_names WHERE name = r.identity),
	(SELECT id FROM usage_names WHERE name = r.seller),
	(SELECT id FROM usage_names WHERE name = r.product_code),
	(SELECT id FROM usage_names WHERE name = r.customer_account_id),
	(SELECT id FROM usage_names WHERE name = r.customer_identifier),
	(SELECT id FROM usage_names WHERE name = r.license_arn),
	(SELECT id FROM usage_names WHERE name = r.resource),
	(SELECT id FROM usage_names WHERE name = r.caller_account_id),
	(SELECT id FROM usage_names WHERE name = r.access_key_id),
	CASE WHEN length(r.client_token) = 36 AND r.client_token = lower(r.client_token) AND substr(r.client_token, 9, 1) = '-'
		AND substr(r.client_token, 14, 1) = '-' AND substr(r.client_token, 19, 1) = '-' AND substr(r.client_token, 24, 1) = '-'
		AND length(replace(r.client_token, '-', '')) = 32
		THEN coalesce(unhex(replace(r.client_token, '-', '')), r.client_token) ELSE r.client_token END,
	(SELECT id FROM usage_names WHERE name = r.dimension),
	r.ts, r.quantity, r.allocations, r.created_at
FROM usage_records AS r
WHERE true;

-- Dropping the table drops the rollup triggers of 00010 with it; they are
-- recreated below on usage_rows.
DROP TABLE usage_records;

-- usage_records keeps the earlier columns, names and values for readers
-- (reports, the record debugger, the sqlite3 shell): hour in unix seconds,
-- ids and tokens as text. The store writes usage_rows.
CREATE VIEW usage_records AS
SELECT
	r.rowid AS rowid,
	r.key AS key,
	CASE WHEN typeof(r.id) = 'blob' AND length(r.id) = 16 THEN lower(
		substr(hex(r.id), 1, 8) || '-' || substr(hex(r.id), 9, 4) || '-' || substr(hex(r.id), 13, 4) || '-' ||
		substr(hex(r.id), 17, 4) || '-' || substr(hex(r.id), 21, 12)) ELSE r.id END AS id,
	r.fingerprint AS fingerprint,
	(SELECT name FROM usage_names WHERE id = r.operation) AS operation,
	(SELECT name FROM usage_names WHERE id = r.seller) AS seller,
	(SELECT name FROM usage_names WHERE id = r.product) AS product_code,
	(SELECT name FROM usage_names WHERE id = r.identity) AS identity,
	(SELECT name FROM usage_names WHERE id = r.account) AS customer_account_id,
	(SELECT name FROM usage_names WHERE id = r.identifier) AS customer_identifier,
	(SELECT name FROM usage_names WHERE id = r.license) AS license_arn,
	(SELECT name FROM usage_names WHERE id = r.resource) AS resource,
	(SELECT name FROM usage_names WHERE id = r.caller) AS caller_account_id,
	(SELECT name FROM usage_names WHERE id = r.access_key) AS access_key_id,
	CASE WHEN typeof(r.client_token) = 'blob' AND length(r.client_token) = 16 THEN lower(
		substr(hex(r.client_token), 1, 8) || '-' || substr(hex(r.client_token), 9, 4) || '-' ||
		substr(hex(r.client_token), 13, 4) || '-' || substr(hex(r.client_token), 17, 4) || '-' ||
		substr(hex(r.client_token), 21, 12)) ELSE r.client_token END AS client_token,
	(SELECT name FROM usage_names WHERE id = r.dimension) AS dimension,
	r.ts AS ts,
	(r.rowid >> 32) * 3600 AS hour,
	r.quantity AS quantity,
	r.allocations AS allocations,
	r.created_at AS created_at
FROM usage_rows AS r;

-- Deleting from the view deletes the records.
-- +goose StatementBegin
CREATE TRIGGER usage_records_delete INSTEAD OF DELETE ON usage_records BEGIN
	DELETE FROM usage_rows WHERE rowid = OLD.rowid;
END;
-- +goose StatementEnd

-- The rollup triggers of 00010_usage_rollups.sql, on usage_rows: the same
-- statements, with the names looked up and the hour taken from the rowid.
-- +goose StatementBegin
CREATE TRIGGER usage_rows_rollup AFTER INSERT ON usage_rows BEGIN
	INSERT INTO usage_hourly (hour, product_code, customer_account_id, customer_identifier, license_arn, dimension, quantity, records)
	VALUES ((NEW.rowid >> 32) * 3600,
		(SELECT name FROM usage_names WHERE id = NEW.product),
		(SELECT name FROM usage_names WHERE id = NEW.account),
		(SELECT name FROM usage_names WHERE id = NEW.identifier),
		(SELECT name FROM usage_names WHERE id = NEW.license),
		(SELECT name FROM usage_names WHERE id = NEW.dimension),
		NEW.quantity, 1)
	ON CONFLICT DO UPDATE SET quantity = quantity + excluded.quantity, records = records + 1;

	INSERT INTO usage_hourly_tags (hour, product_code, customer_account_id, customer_identifier, license_arn, dimension, tag, quantity, records)
	SELECT (NEW.rowid >> 32) * 3600,
		(SELECT name FROM usage_names WHERE id = NEW.product),
		(SELECT name FROM usage_names WHERE id = NEW.account),
		(SELECT name FROM usage_names WHERE id = NEW.identifier),
		(SELECT name FROM usage_names WHERE id = NEW.license),
		(SELECT name FROM usage_names WHERE id = NEW.dimension),
		x.tag, SUM(x.quantity), 1
	FROM (
		SELECT '' AS tag, NEW.quantity AS quantity WHERE NEW.allocations IS NULL
		UNION ALL
		SELECT t.value || '=' || json_extract(a.value, '$[1][' || (t.key + 1) || ']'), json_extract(a.value, '$[0]')
		FROM json_each(NEW.allocations) AS a, json_each(a.value, '$[1]') AS t
		WHERE t.key % 2 = 0
		UNION ALL
		SELECT '', json_extract(a.value, '$[0]')
		FROM json_each(NEW.allocations) AS a
		WHERE coalesce(json_array_length(a.value, '$[1]'), 0) = 0
	) AS x
	WHERE true
	GROUP BY x.tag
	ON CONFLICT DO UPDATE SET quantity = quantity + excluded.quantity, records = records + excluded.records;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER usage_rows_rollup_delete AFTER DELETE ON usage_rows BEGIN
	UPDATE usage_hourly SET quantity = quantity - OLD.quantity, records = records - 1
	WHERE hour = (OLD.rowid >> 32) * 3600
		AND product_code = (SELECT name FROM usage_names WHERE id = OLD.product)
		AND customer_account_id = (SELECT name FROM usage_names WHERE id = OLD.account)
		AND customer_identifier = (SELECT name FROM usage_names WHERE id = OLD.identifier)
		AND license_arn = (SELECT name FROM usage_names WHERE id = OLD.license)
		AND dimension = (SELECT name FROM usage_names WHERE id = OLD.dimension);
	DELETE FROM usage_hourly
	WHERE hour = (OLD.rowid >> 32) * 3600
		AND product_code = (SELECT name FROM usage_names WHERE id = OLD.product)
		AND customer_account_id = (SELECT name FROM usage_names WHERE id = OLD.account)
		AND customer_identifier = (SELECT name FROM usage_names WHERE id = OLD.identifier)
		AND license_arn = (SELECT name FROM usage_names WHERE id = OLD.license)
		AND dimension = (SELECT name FROM usage_names WHERE id = OLD.dimension)
		AND records <= 0;

	UPDATE usage_hourly_tags SET quantity = usage_hourly_tags.quantity - x.quantity, records = usage_hourly_tags.records - 1
	FROM (
		SELECT tag, SUM(quantity) AS quantity FROM (
			SELECT '' AS tag, OLD.quantity AS quantity WHERE OLD.allocations IS NULL
			UNION ALL
			SELECT t.value || '=' || json_extract(a.value, '$[1][' || (t.key + 1) || ']'), json_extract(a.value, '$[0]')
			FROM json_each(OLD.allocations) AS a, json_each(a.value, '$[1]') AS t
			WHERE t.key % 2 = 0
			UNION ALL
			SELECT '', json_extract(a.value, '$[0]')
			FROM json_each(OLD.allocations) AS a
			WHERE coalesce(json_array_length(a.value, '$[1]'), 0) = 0
		) GROUP BY tag
	) AS x
	WHERE usage_hourly_tags.hour = (OLD.rowid >> 32) * 3600
		AND usage_hourly_tags.product_code = (SELECT name FROM usage_names WHERE id = OLD.product)
		AND usage_hourly_tags.customer_account_id = (SELECT name FROM usage_names WHERE id = OLD.account)
		AND usage_hourly_tags.customer_identifier = (SELECT name FROM usage_names WHERE id = OLD.identifier)
		AND usage_hourly_tags.license_arn = (SELECT name FROM usage_names WHERE id = OLD.license)
		AND usage_hourly_tags.dimension = (SELECT name FROM usage_names WHERE id = OLD.dimension)
		AND usage_hourly_tags.tag = x.tag;
	DELETE FROM usage_hourly_tags
	WHERE hour = (OLD.rowid >> 32) * 3600
		AND product_code = (SELECT name FROM usage_names WHERE id = OLD.product)
		AND customer_account_id = (SELECT name FROM usage_names WHERE id = OLD.account)
		AND customer_identifier = (SELECT name FROM usage_names WHERE id = OLD.identifier)
		AND license_arn = (SELECT name FROM usage_names WHERE id = OLD.license)
		AND dimension = (SELECT name FROM usage_names WHERE id = OLD.dimension)
		AND records <= 0;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER usage_records_delete;
DROP TRIGGER usage_rows_rollup_delete;
DROP TRIGGER usage_rows_rollup;
DROP VIEW usage_records;

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

-- Keys and fingerprints stay bytes: the current format cannot be turned
-- back into the text one.
INSERT INTO usage_records (key, id, fingerprint, operation, seller, product_code, identity, customer_account_id,
	customer_identifier, license_arn, resource, caller_account_id, access_key_id, client_token, dimension, ts, hour,
	quantity, allocations, created_at)
SELECT
	r.key,
	CASE WHEN typeof(r.id) = 'blob' AND length(r.id) = 16 THEN lower(
		substr(hex(r.id), 1, 8) || '-' || substr(hex(r.id), 9, 4) || '-' || substr(hex(r.id), 13, 4) || '-' ||
		substr(hex(r.id), 17, 4) || '-' || substr(hex(r.id), 21, 12)) ELSE r.id END,
	r.fingerprint,
	(SELECT name FROM usage_names WHERE id = r.operation),
	(SELECT name FROM usage_names WHERE id = r.seller),
	(SELECT name FROM usage_names WHERE id = r.product),
	(SELECT name FROM usage_names WHERE id = r.identity),
	(SELECT name FROM usage_names WHERE id = r.account),
	(SELECT name FROM usage_names WHERE id = r.identifier),
	(SELECT name FROM usage_names WHERE id = r.license),
	(SELECT name FROM usage_names WHERE id = r.resource),
	(SELECT name FROM usage_names WHERE id = r.caller),
	(SELECT name FROM usage_names WHERE id = r.access_key),
	CASE WHEN typeof(r.client_token) = 'blob' AND length(r.client_token) = 16 THEN lower(
		substr(hex(r.client_token), 1, 8) || '-' || substr(hex(r.client_token), 9, 4) || '-' ||
		substr(hex(r.client_token), 13, 4) || '-' || substr(hex(r.client_token), 17, 4) || '-' ||
		substr(hex(r.client_token), 21, 12)) ELSE r.client_token END,
	(SELECT name FROM usage_names WHERE id = r.dimension),
	r.ts, (r.rowid >> 32) * 3600, r.quantity, r.allocations, r.created_at
FROM usage_rows AS r
ORDER BY r.rowid;

DROP TABLE usage_rows;
DROP TABLE usage_names;

-- 00010_usage_rollups.sql's triggers, as it made them.
-- +goose StatementBegin
CREATE TRIGGER usage_records_rollup AFTER INSERT ON usage_records BEGIN
	INSERT INTO usage_hourly (hour, product_code, customer_account_id, customer_identifier, license_arn, dimension, quantity, records)
	VALUES (NEW.hour, NEW.product_code, NEW.customer_account_id, NEW.customer_identifier, NEW.license_arn, NEW.dimension, NEW.quantity, 1)
	ON CONFLICT DO UPDATE SET quantity = quantity + excluded.quantity, records = records + 1;

	INSERT INTO usage_hourly_tags (hour, product_code, customer_account_id, customer_identifier, license_arn, dimension, tag, quantity, records)
	SELECT NEW.hour, NEW.product_code, NEW.customer_account_id, NEW.customer_identifier, NEW.license_arn, NEW.dimension, x.tag, SUM(x.quantity), 1
	FROM (
		SELECT '' AS tag, NEW.quantity AS quantity WHERE NEW.allocations IS NULL
		UNION ALL
		SELECT t.value || '=' || json_extract(a.value, '$[1][' || (t.key + 1) || ']'), json_extract(a.value, '$[0]')
		FROM json_each(NEW.allocations) AS a, json_each(a.value, '$[1]') AS t
		WHERE t.key % 2 = 0
		UNION ALL
		SELECT '', json_extract(a.value, '$[0]')
		FROM json_each(NEW.allocations) AS a
		WHERE coalesce(json_array_length(a.value, '$[1]'), 0) = 0
	) AS x
	WHERE true
	GROUP BY x.tag
	ON CONFLICT DO UPDATE SET quantity = quantity + excluded.quantity, records = records + excluded.records;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER usage_records_rollup_delete AFTER DELETE ON usage_records BEGIN
	UPDATE usage_hourly SET quantity = quantity - OLD.quantity, records = records - 1
	WHERE hour = OLD.hour AND product_code = OLD.product_code AND customer_account_id = OLD.customer_account_id
		AND customer_identifier = OLD.customer_identifier AND license_arn = OLD.license_arn AND dimension = OLD.dimension;
	DELETE FROM usage_hourly
	WHERE hour = OLD.hour AND product_code = OLD.product_code AND customer_account_id = OLD.customer_account_id
		AND customer_identifier = OLD.customer_identifier AND license_arn = OLD.license_arn AND dimension = OLD.dimension
		AND records <= 0;

	UPDATE usage_hourly_tags SET quantity = usage_hourly_tags.quantity - x.quantity, records = usage_hourly_tags.records - 1
	FROM (
		SELECT tag, SUM(quantity) AS quantity FROM (
			SELECT '' AS tag, OLD.quantity AS quantity WHERE OLD.allocations IS NULL
			UNION ALL
			SELECT t.value || '=' || json_extract(a.value, '$[1][' || (t.key + 1) || ']'), json_extract(a.value, '$[0]')
			FROM json_each(OLD.allocations) AS a, json_each(a.value, '$[1]') AS t
			WHERE t.key % 2 = 0
			UNION ALL
			SELECT '', json_extract(a.value, '$[0]')
			FROM json_each(OLD.allocations) AS a
			WHERE coalesce(json_array_length(a.value, '$[1]'), 0) = 0
		) GROUP BY tag
	) AS x
	WHERE usage_hourly_tags.hour = OLD.hour AND usage_hourly_tags.product_code = OLD.product_code
		AND usage_hourly_tags.customer_account_id = OLD.customer_account_id
		AND usage_hourly_tags.customer_identifier = OLD.customer_identifier
		AND usage_hourly_tags.license_arn = OLD.license_arn AND usage_hourly_tags.dimension = OLD.dimension
		AND usage_hourly_tags.tag = x.tag;
	DELETE FROM usage_hourly_tags
	WHERE hour = OLD.hour AND product_code = OLD.product_code AND customer_account_id = OLD.customer_account_id
		AND customer_identifier = OLD.customer_identifier AND license_arn = OLD.license_arn AND dimension = OLD.dimension
		AND records <= 0;
END;
-- +goose StatementEnd
