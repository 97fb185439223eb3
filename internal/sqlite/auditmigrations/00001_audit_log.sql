-- +goose Up

-- The audit log's own file (audit.go). The tables are those the main file
-- had from its migration 00011 until the audit log moved out, so that the
-- move (audit_move.go) copies rows column for column.
--
-- audit_events: one row per API call, the CloudTrail-shaped event kept
-- whole as JSON beside the columns lookups filter on. seq (the rowid)
-- orders events of the same millisecond. Times are unix milliseconds.
-- error_code is NULL for calls that succeeded, so that the partial index
-- holds only errors and "error_code = ?" can use it.
CREATE TABLE audit_events (
	seq           INTEGER PRIMARY KEY,
	event_ms      INTEGER NOT NULL,
	event_source  TEXT    NOT NULL,
	event_name    TEXT    NOT NULL,
	account_id    TEXT    NOT NULL,
	access_key_id TEXT    NOT NULL,
	error_code    TEXT,
	event         TEXT    NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (event_ms);
CREATE INDEX audit_events_account ON audit_events (account_id, event_ms);
CREATE INDEX audit_events_name ON audit_events (event_name, event_ms);
CREATE INDEX audit_events_error ON audit_events (error_code, event_ms) WHERE error_code IS NOT NULL;

-- Usage records that metering calls did not store (refused, duplicate,
-- customer not subscribed), for the record debugger: looked up by product
-- and the UTC hour the record was for, then by customer.
CREATE TABLE metering_attempts (
	at_ms               INTEGER NOT NULL,
	hour                INTEGER NOT NULL,
	product_code        TEXT    NOT NULL,
	customer_account_id TEXT    NOT NULL,
	customer_identifier TEXT    NOT NULL,
	license_arn         TEXT    NOT NULL,
	attempt             TEXT    NOT NULL
);
CREATE INDEX metering_attempts_hour ON metering_attempts (product_code, hour);
CREATE INDEX metering_attempts_time ON metering_attempts (at_ms);

-- One row per main file whose audit tables were copied here, named by the
-- token that file keeps in its settings until it has dropped them. The row
-- is written in the transaction that copies, so a move interrupted after
-- it only has to drop, and one interrupted before it copies again from
-- scratch: no row is lost or copied twice.
CREATE TABLE moved_in (
	token    TEXT    PRIMARY KEY,
	at_ms    INTEGER NOT NULL,
	source   TEXT    NOT NULL, -- the main file's path then, for people
	events   INTEGER NOT NULL,
	attempts INTEGER NOT NULL
);

-- +goose Down
DROP TABLE moved_in;
DROP TABLE metering_attempts;
DROP TABLE audit_events;
