-- +goose Up

-- Onboarding: where a product sends buyers and notifications.
ALTER TABLE products ADD COLUMN fulfillment_url TEXT NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN webhooks TEXT NOT NULL DEFAULT '[]';

-- The agreement's offer, free trial, and the end of an unsubscribe window.
ALTER TABLE customers ADD COLUMN offer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN free_trial INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN pending_until INTEGER;

-- The webhook outbox: a message is deleted from nothing; its status says
-- whether it was delivered, is pending a (re)try, or was given up on.
CREATE TABLE notifications (
	id            TEXT NOT NULL PRIMARY KEY,
	product_code  TEXT NOT NULL,
	url           TEXT NOT NULL,
	action        TEXT NOT NULL,
	body          BLOB NOT NULL,
	created_ms    INTEGER NOT NULL,
	not_before_ms INTEGER NOT NULL,
	status        TEXT NOT NULL,
	attempts      INTEGER NOT NULL DEFAULT 0,
	next_ms       INTEGER NOT NULL,
	last_error    TEXT NOT NULL DEFAULT '',
	delivered_ms  INTEGER
);
CREATE INDEX notifications_due ON notifications (status, next_ms);

-- +goose Down
DROP TABLE notifications;
ALTER TABLE customers DROP COLUMN pending_until;
ALTER TABLE customers DROP COLUMN free_trial;
ALTER TABLE customers DROP COLUMN offer_id;
ALTER TABLE products DROP COLUMN webhooks;
ALTER TABLE products DROP COLUMN fulfillment_url;
