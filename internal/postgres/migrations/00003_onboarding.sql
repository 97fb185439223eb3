-- +goose Up

-- Onboarding: where a product sends buyers and notifications.
ALTER TABLE products ADD COLUMN fulfillment_url text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE products ADD COLUMN webhooks text[] COLLATE "C" NOT NULL DEFAULT '{}';

-- The agreement's offer, free trial, and the end of an unsubscribe window.
ALTER TABLE customers ADD COLUMN offer_id text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN free_trial boolean NOT NULL DEFAULT false;
ALTER TABLE customers ADD COLUMN pending_until timestamptz;

-- The webhook outbox, shared by every replica: ClaimDue leases messages
-- with FOR UPDATE SKIP LOCKED, so two replicas never deliver one at once.
-- A message is never deleted; its status says whether it was delivered, is
-- pending a (re)try, or was given up on.
CREATE TABLE notifications (
	id           text COLLATE "C" NOT NULL PRIMARY KEY,
	product_code text COLLATE "C" NOT NULL,
	url          text COLLATE "C" NOT NULL,
	action       text COLLATE "C" NOT NULL,
	body         bytea NOT NULL,
	created      timestamptz NOT NULL,
	not_before   timestamptz NOT NULL,
	status       text COLLATE "C" NOT NULL,
	attempts     integer NOT NULL DEFAULT 0,
	next_attempt timestamptz NOT NULL,
	last_error   text NOT NULL DEFAULT '',
	delivered    timestamptz
);
CREATE INDEX notifications_due ON notifications (status, next_attempt);

-- +goose Down
DROP TABLE notifications;
ALTER TABLE customers DROP COLUMN pending_until;
ALTER TABLE customers DROP COLUMN free_trial;
ALTER TABLE customers DROP COLUMN offer_id;
ALTER TABLE products DROP COLUMN webhooks;
ALTER TABLE products DROP COLUMN fulfillment_url;
