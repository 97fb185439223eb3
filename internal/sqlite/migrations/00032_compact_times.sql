-- +goose Up

-- Shorter times (issue 6: at most 150 bytes a record). ts becomes the
-- milliseconds since the start of the record's hour, which the rowid
-- holds (3 bytes instead of 6), and created_at the milliseconds from ts
-- (4 bytes: a record is stored within hours of its timestamp). The
-- usage_records view adds them back, so readers see what they saw.
-- MeteringRecordIds that metering.RecordID derives from the key are
-- stored as an empty blob, in no bytes; the view shows them.
DROP VIEW usage_records;

UPDATE usage_rows SET ts = ts - (rowid >> 32) * 3600000, created_at = created_at - ts;

CREATE VIEW usage_records AS
SELECT
	r.rowid AS rowid,
	r.key AS key,
	CASE WHEN typeof(r.id) = 'blob' AND length(r.id) = 16 THEN lower(
		substr(hex(r.id), 1, 8) || '-' || substr(hex(r.id), 9, 4) || '-' || substr(hex(r.id), 13, 4) || '-' ||
		substr(hex(r.id), 17, 4) || '-' || substr(hex(r.id), 21, 12))
	-- An id the store did not keep is metering.RecordID(key): 16 bytes of
	-- the key as a version 8 UUID, its first 16, or its last 16 when it
	-- holds for any hour (hour 0).
	WHEN typeof(r.id) = 'blob' AND length(r.id) = 0 AND length(r.key) = 20 THEN (
		SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-8' || substr(h, 14, 3) || '-' ||
			substr('89ab89ab89ab89ab', instr('0123456789abcdef', substr(h, 17, 1)), 1) ||
			substr(h, 18, 3) || '-' || substr(h, 21, 12)
		FROM (SELECT lower(hex(iif(substr(r.key, 1, 4) = x'00000000', substr(r.key, 5, 16), substr(r.key, 1, 16)))) AS h))
	ELSE r.id END AS id,
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
	(r.rowid >> 32) * 3600000 + r.ts AS ts,
	(r.rowid >> 32) * 3600 AS hour,
	r.quantity AS quantity,
	r.allocations AS allocations,
	(r.rowid >> 32) * 3600000 + r.ts + r.created_at AS created_at
FROM usage_rows AS r;

-- Deleting from the view deletes the records.
-- +goose StatementBegin
CREATE TRIGGER usage_records_delete INSTEAD OF DELETE ON usage_records BEGIN
	DELETE FROM usage_rows WHERE rowid = OLD.rowid;
END;
-- +goose StatementEnd

-- +goose Down
DROP VIEW usage_records;

UPDATE usage_rows SET created_at = created_at + ts + (rowid >> 32) * 3600000, ts = ts + (rowid >> 32) * 3600000;

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
