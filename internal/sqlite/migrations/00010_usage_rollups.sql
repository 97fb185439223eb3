-- +goose Up

-- Hourly rollups of usage_records for usage reports: per UTC hour, product,
-- customer, license and dimension, the summed quantity and the number of
-- records. Triggers keep them in the transaction that inserts (or deletes)
-- the records, so that they are exactly as durable as the records and no Go
-- code on the metering path knows about them. A report over a month reads
-- one row per hour and group instead of one per record.
--
-- The primary key leads with hour (WITHOUT ROWID: the table is its key
-- index), so a time range is one contiguous scan and new hours append at
-- the end; customer and dimension come next, so that the report asked for
-- most, hourly by customer and dimension, aggregates as it scans, without
-- sorting. The one index serves reports of one customer (it carries the
-- key, in the same order after its first column); an upsert changes only
-- quantity and records, so it is written once per new row, not per
-- record. A product filter scans the time range: an index on product
-- measured slower, a lookup per row, for the few products a seller has.
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

-- The same by allocation tag: a record's allocation with tags {k1=v1,
-- k2=v2} and quantity q adds q to tag "k1=v1" and q to "k2=v2"; a record
-- without allocations, or an allocation without tags, counts under the
-- tag ''. records counts the records that contributed to a tag.
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

-- allocations is [[quantity, ["key","value",...]], [quantity], ...]
-- (00001_init.sql): json_each over an allocation's second element gives
-- keys at even positions, each followed by its value.

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

-- Usage is history and nothing deletes it today; a reset (issue 7) may.
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

-- Records stored before this migration.
INSERT INTO usage_hourly (hour, product_code, customer_account_id, customer_identifier, license_arn, dimension, quantity, records)
SELECT hour, product_code, customer_account_id, customer_identifier, license_arn, dimension, SUM(quantity), COUNT(*)
FROM usage_records
GROUP BY hour, product_code, customer_account_id, customer_identifier, license_arn, dimension;

INSERT INTO usage_hourly_tags (hour, product_code, customer_account_id, customer_identifier, license_arn, dimension, tag, quantity, records)
SELECT hour, product_code, customer_account_id, customer_identifier, license_arn, dimension, tag, SUM(quantity), COUNT(DISTINCT rid)
FROM (
	SELECT r.rowid AS rid, r.hour, r.product_code, r.customer_account_id, r.customer_identifier, r.license_arn, r.dimension,
		'' AS tag, r.quantity AS quantity
	FROM usage_records AS r WHERE r.allocations IS NULL
	UNION ALL
	SELECT r.rowid, r.hour, r.product_code, r.customer_account_id, r.customer_identifier, r.license_arn, r.dimension,
		t.value || '=' || json_extract(a.value, '$[1][' || (t.key + 1) || ']'), json_extract(a.value, '$[0]')
	FROM usage_records AS r, json_each(r.allocations) AS a, json_each(a.value, '$[1]') AS t
	WHERE t.key % 2 = 0
	UNION ALL
	SELECT r.rowid, r.hour, r.product_code, r.customer_account_id, r.customer_identifier, r.license_arn, r.dimension,
		'', json_extract(a.value, '$[0]')
	FROM usage_records AS r, json_each(r.allocations) AS a
	WHERE coalesce(json_array_length(a.value, '$[1]'), 0) = 0
)
WHERE true
GROUP BY hour, product_code, customer_account_id, customer_identifier, license_arn, dimension, tag;

-- +goose Down
DROP TRIGGER usage_records_rollup_delete;
DROP TRIGGER usage_records_rollup;
DROP TABLE usage_hourly_tags;
DROP TABLE usage_hourly;
