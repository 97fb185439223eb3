-- +goose Up

-- Compact rollups (issues 5 and 6). The rollups of 00010 keyed every row by
-- five strings, kept a second index by customer, and their trigger looked
-- up ten names and expanded allocations for every record: most of the
-- group commit's CPU, and 260 bytes a record. These key by the usage_names
-- ids usage_rows already holds, so the trigger is one integer-keyed upsert,
-- and allocation tags get their own trigger that runs only for records that
-- have allocations.
DROP TRIGGER usage_rows_rollup;
DROP TRIGGER usage_rows_rollup_delete;
DROP TABLE usage_hourly_tags;
DROP TABLE usage_hourly;

-- usage_rollups sums records per UTC hour (hours since the epoch, the
-- rowid's high bits in usage_rows), customer, dimension, product,
-- identifier and license. tagged_quantity and tagged_records are the part
-- from records with allocations: a report by tag takes those from
-- usage_rollup_tags and counts the rest under the tag ''.
--
-- The key leads with the hour, so that new rows land at the end of the
-- table and a time range is one scan; the account next, so that one
-- customer's report seeks to its rows in each hour instead of reading
-- every customer's (reports read one customer that way; no second index).
CREATE TABLE usage_rollups (
	hour            INTEGER NOT NULL,
	account         INTEGER NOT NULL,
	dimension       INTEGER NOT NULL,
	product         INTEGER NOT NULL,
	identifier      INTEGER NOT NULL,
	license         INTEGER NOT NULL,
	quantity        INTEGER NOT NULL,
	records         INTEGER NOT NULL,
	tagged_quantity INTEGER NOT NULL,
	tagged_records  INTEGER NOT NULL,
	PRIMARY KEY (hour, account, dimension, product, identifier, license)
) WITHOUT ROWID;

-- usage_rollup_tags: per allocation tag "key=value" of records with
-- allocations, the quantity allocated to it; an allocation without tags
-- counts under ''. records counts records that contributed to the tag.
CREATE TABLE usage_rollup_tags (
	hour       INTEGER NOT NULL,
	account    INTEGER NOT NULL,
	dimension  INTEGER NOT NULL,
	tag        TEXT    NOT NULL,
	product    INTEGER NOT NULL,
	identifier INTEGER NOT NULL,
	license    INTEGER NOT NULL,
	quantity   INTEGER NOT NULL,
	records    INTEGER NOT NULL,
	PRIMARY KEY (hour, account, dimension, tag, product, identifier, license)
) WITHOUT ROWID;

INSERT INTO usage_rollups (hour, account, dimension, product, identifier, license, quantity, records, tagged_quantity, tagged_records)
SELECT rowid >> 32, account, dimension, product, identifier, license, SUM(quantity), COUNT(*),
	SUM(iif(allocations IS NULL, 0, quantity)), SUM(allocations IS NOT NULL)
FROM usage_rows
GROUP BY 1, 2, 3, 4, 5, 6;

-- allocations is [[quantity, ["key","value",...]], [quantity], ...]
-- (00001_init.sql): json_each over an allocation's second element gives
-- keys at even positions, each followed by its value. A record adds one to
-- records of each tag it has, whatever the number of its allocations with
-- that tag.
INSERT INTO usage_rollup_tags (hour, account, dimension, tag, product, identifier, license, quantity, records)
SELECT hour, account, dimension, tag, product, identifier, license, SUM(quantity), COUNT(DISTINCT rid)
FROM (
	SELECT r.rowid AS rid, r.rowid >> 32 AS hour, r.account, r.dimension, r.product, r.identifier, r.license,
		t.value || '=' || json_extract(a.value, '$[1][' || (t.key + 1) || ']') AS tag, json_extract(a.value, '$[0]') AS quantity
	FROM usage_rows AS r, json_each(r.allocations) AS a, json_each(a.value, '$[1]') AS t
	WHERE r.allocations IS NOT NULL AND t.key % 2 = 0
	UNION ALL
	SELECT r.rowid, r.rowid >> 32, r.account, r.dimension, r.product, r.identifier, r.license, '', json_extract(a.value, '$[0]')
	FROM usage_rows AS r, json_each(r.allocations) AS a
	WHERE r.allocations IS NOT NULL AND coalesce(json_array_length(a.value, '$[1]'), 0) = 0
)
GROUP BY hour, account, dimension, tag, product, identifier, license;

-- +goose StatementBegin
CREATE TRIGGER usage_rows_rollup AFTER INSERT ON usage_rows BEGIN
	INSERT INTO usage_rollups (hour, account, dimension, product, identifier, license, quantity, records, tagged_quantity, tagged_records)
	VALUES (NEW.rowid >> 32, NEW.account, NEW.dimension, NEW.product, NEW.identifier, NEW.license, NEW.quantity, 1,
		iif(NEW.allocations IS NULL, 0, NEW.quantity), NEW.allocations IS NOT NULL)
	ON CONFLICT DO UPDATE SET quantity = quantity + excluded.quantity, records = records + 1,
		tagged_quantity = tagged_quantity + excluded.tagged_quantity, tagged_records = tagged_records + excluded.tagged_records;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER usage_rows_rollup_tags AFTER INSERT ON usage_rows WHEN NEW.allocations IS NOT NULL BEGIN
	INSERT INTO usage_rollup_tags (hour, account, dimension, tag, product, identifier, license, quantity, records)
	SELECT NEW.rowid >> 32, NEW.account, NEW.dimension, x.tag, NEW.product, NEW.identifier, NEW.license, SUM(x.quantity), 1
	FROM (
		SELECT t.value || '=' || json_extract(a.value, '$[1][' || (t.key + 1) || ']') AS tag, json_extract(a.value, '$[0]') AS quantity
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

-- Usage is history; only a test-control reset (and the sqlite3 shell)
-- deletes it.
-- +goose StatementBegin
CREATE TRIGGER usage_rows_rollup_delete AFTER DELETE ON usage_rows BEGIN
	UPDATE usage_rollups SET quantity = quantity - OLD.quantity, records = records - 1,
		tagged_quantity = tagged_quantity - iif(OLD.allocations IS NULL, 0, OLD.quantity),
		tagged_records = tagged_records - (OLD.allocations IS NOT NULL)
	WHERE hour = OLD.rowid >> 32 AND account = OLD.account AND dimension = OLD.dimension AND product = OLD.product
		AND identifier = OLD.identifier AND license = OLD.license;
	DELETE FROM usage_rollups
	WHERE hour = OLD.rowid >> 32 AND account = OLD.account AND dimension = OLD.dimension AND product = OLD.product
		AND identifier = OLD.identifier AND license = OLD.license AND records <= 0;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER usage_rows_rollup_tags_delete AFTER DELETE ON usage_rows WHEN OLD.allocations IS NOT NULL BEGIN
	UPDATE usage_rollup_tags SET quantity = usage_rollup_tags.quantity - x.quantity, records = usage_rollup_tags.records - 1
	FROM (
		SELECT tag, SUM(quantity) AS quantity FROM (
			SELECT t.value || '=' || json_extract(a.value, '$[1][' || (t.key + 1) || ']') AS tag, json_extract(a.value, '$[0]') AS quantity
			FROM json_each(OLD.allocations) AS a, json_each(a.value, '$[1]') AS t
			WHERE t.key % 2 = 0
			UNION ALL
			SELECT '', json_extract(a.value, '$[0]')
			FROM json_each(OLD.allocations) AS a
			WHERE coalesce(json_array_length(a.value, '$[1]'), 0) = 0
		) GROUP BY tag
	) AS x
	WHERE usage_rollup_tags.hour = OLD.rowid >> 32 AND usage_rollup_tags.account = OLD.account
		AND usage_rollup_tags.dimension = OLD.dimension AND usage_rollup_tags.tag = x.tag
		AND usage_rollup_tags.product = OLD.product AND usage_rollup_tags.identifier = OLD.identifier
		AND usage_rollup_tags.license = OLD.license;
	DELETE FROM usage_rollup_tags
	WHERE hour = OLD.rowid >> 32 AND account = OLD.account AND dimension = OLD.dimension AND product = OLD.product
		AND identifier = OLD.identifier AND license = OLD.license AND records <= 0;
END;
-- +goose StatementEnd

-- +goose Down
-- The text-keyed rollups of 00010, with 00020's triggers, rebuilt from
-- these (statements as they were there), so that the Downs before this one
-- find what they drop.
DROP TRIGGER usage_rows_rollup_tags_delete;
DROP TRIGGER usage_rows_rollup_delete;
DROP TRIGGER usage_rows_rollup_tags;
DROP TRIGGER usage_rows_rollup;

CREATE TABLE usage_hourly (
	hour                INTEGER NOT NULL,
	product_code        TEXT    NOT NULL,
	customer_account_id TEXT    NOT NULL,
	customer_identifier TEXT    NOT NULL,
	license_arn         TEXT    NOT NULL,
	dimension           TEXT    NOT NULL,
	quantity            INTEGER NOT NULL,
	records             INTEGER NOT NULL,
	PRIMARY KEY (hour, customer_account_id, dimension, product_code, customer_identifier, license_arn)
) WITHOUT ROWID;
CREATE INDEX usage_hourly_customer ON usage_hourly (customer_account_id, hour);

CREATE TABLE usage_hourly_tags (
	hour                INTEGER NOT NULL,
	product_code        TEXT    NOT NULL,
	customer_account_id TEXT    NOT NULL,
	customer_identifier TEXT    NOT NULL,
	license_arn         TEXT    NOT NULL,
	dimension           TEXT    NOT NULL,
	tag                 TEXT    NOT NULL,
	quantity            INTEGER NOT NULL,
	records             INTEGER NOT NULL,
	PRIMARY KEY (hour, customer_account_id, dimension, tag, product_code, customer_identifier, license_arn)
) WITHOUT ROWID;

INSERT INTO usage_hourly (hour, product_code, customer_account_id, customer_identifier, license_arn, dimension, quantity, records)
SELECT r.hour * 3600, p.name, a.name, i.name, l.name, d.name, r.quantity, r.records
FROM usage_rollups AS r
JOIN usage_names AS p ON p.id = r.product JOIN usage_names AS a ON a.id = r.account
JOIN usage_names AS i ON i.id = r.identifier JOIN usage_names AS l ON l.id = r.license
JOIN usage_names AS d ON d.id = r.dimension;

INSERT INTO usage_hourly_tags (hour, product_code, customer_account_id, customer_identifier, license_arn, dimension, tag, quantity, records)
SELECT x.hour * 3600, p.name, a.name, i.name, l.name, d.name, x.tag, SUM(x.quantity), SUM(x.records)
FROM (
	SELECT hour, product, account, identifier, license, dimension, tag, quantity, records FROM usage_rollup_tags
	UNION ALL
	SELECT hour, product, account, identifier, license, dimension, '', quantity - tagged_quantity, records - tagged_records
	FROM usage_rollups WHERE records > tagged_records
) AS x
JOIN usage_names AS p ON p.id = x.product JOIN usage_names AS a ON a.id = x.account
JOIN usage_names AS i ON i.id = x.identifier JOIN usage_names AS l ON l.id = x.license
JOIN usage_names AS d ON d.id = x.dimension
GROUP BY 1, 2, 3, 4, 5, 6, 7;

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

DROP TABLE usage_rollup_tags;
DROP TABLE usage_rollups;
