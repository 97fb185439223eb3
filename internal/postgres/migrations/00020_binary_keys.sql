-- +goose Up

-- Idempotency keys and fingerprints are bytes (internal/metering/keys.go):
-- a key is the record's hour (4 bytes) and 16 bytes of a SHA-256, so that
-- the primary key takes each hour's inserts together at its end instead of
-- all over the index. Keys stored before are converted as
-- metering.LegacyKey does, so that retries of those records still find
-- them; fingerprints were 16 bytes of the same digest, hex-encoded, of
-- which metering now keeps the first 8.
ALTER TABLE usage_records ALTER COLUMN key TYPE bytea USING
	CASE
	WHEN split_part(key, chr(31), 1) = 'mu-token' THEN
		'\x00000000'::bytea || substring(sha256(convert_to(key, 'UTF8')) FROM 1 FOR 16)
	WHEN split_part(key, chr(31), 1) IN ('bm-product', 'bm-license', 'mu-hour')
		AND substring(key FROM chr(31) || '([0-9]+)$') IS NOT NULL
		AND substring(key FROM chr(31) || '([0-9]+)$')::bigint % 3600 = 0 THEN
		int4send((substring(key FROM chr(31) || '([0-9]+)$')::bigint / 3600)::int)
		|| substring(sha256(convert_to(regexp_replace(key, chr(31) || '[0-9]+$', ''), 'UTF8')) FROM 1 FOR 16)
	ELSE convert_to(key, 'UTF8')
	END;

ALTER TABLE usage_records ALTER COLUMN fingerprint TYPE bytea USING
	CASE WHEN fingerprint ~ '^[0-9a-f]{32}$' THEN substring(decode(fingerprint, 'hex') FROM 1 FOR 8) ELSE convert_to(fingerprint, 'UTF8') END;

-- +goose Down
ALTER TABLE usage_records ALTER COLUMN fingerprint TYPE text COLLATE "C" USING encode(fingerprint, 'escape');
ALTER TABLE usage_records ALTER COLUMN key TYPE text COLLATE "C" USING encode(key, 'escape');
