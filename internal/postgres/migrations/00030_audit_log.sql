-- +goose Up

-- The audit log (internal/audit), one table for every replica, so that an
-- event is looked up on any replica and outlives a restart. The columns
-- are those of internal/sqlite's audit file: the CloudTrail-shaped event
-- kept whole as JSON text (as written, so that its parameters read back
-- byte for byte), beside the columns lookups filter on. Times hold
-- milliseconds, as the events do.
--
-- seq orders events of the same millisecond: replicas take it from one
-- sequence as they insert. Lookups are newest first by (event_time, seq)
-- and page on a cursor of those two, so every index ends in them and a
-- page is a backward index range scan, without a sort. error_code is NULL
-- for calls that succeeded, so that its partial index holds only errors.
CREATE TABLE audit_events (
	seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_time    timestamptz NOT NULL,
	event_source  text COLLATE "C" NOT NULL,
	event_name    text COLLATE "C" NOT NULL,
	account_id    text COLLATE "C" NOT NULL,
	access_key_id text COLLATE "C" NOT NULL,
	error_code    text COLLATE "C",
	event         text COLLATE "C" NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (event_time, seq);
CREATE INDEX audit_events_account ON audit_events (account_id, event_time, seq);
CREATE INDEX audit_events_name ON audit_events (event_name, event_time, seq);
CREATE INDEX audit_events_error ON audit_events (error_code, event_time, seq) WHERE error_code IS NOT NULL;

-- Usage records that metering calls did not store, for the record
-- debugger: looked up by product and the UTC hour the record was for, then
-- by customer; id keeps the order of one millisecond's attempts.
CREATE TABLE metering_attempts (
	id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at                  timestamptz NOT NULL,
	hour                timestamptz NOT NULL,
	product_code        text COLLATE "C" NOT NULL,
	customer_account_id text COLLATE "C" NOT NULL,
	customer_identifier text COLLATE "C" NOT NULL,
	license_arn         text COLLATE "C" NOT NULL,
	attempt             text COLLATE "C" NOT NULL
);
CREATE INDEX metering_attempts_hour ON metering_attempts (product_code, hour);
CREATE INDEX metering_attempts_time ON metering_attempts (at);

-- +goose Down
DROP TABLE metering_attempts;
DROP TABLE audit_events;
