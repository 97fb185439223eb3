-- +goose Up

-- The idempotency keys leave the commit path (issue 6). A unique index on
-- usage_rows (key) took an insert at a random place in the hour's keys for
-- every record, so each group commit wrote about one index page a record
-- to the log, more as customers grew. Now the committer inserts rows only,
-- in rowid order, and knows the keys it committed since the last catch-up
-- in memory (records.go, keyIndex); a catch-up moves them into usage_keys
-- in key order, one transaction for many group commits, touching each
-- index page once.
--
-- usage_keys: key -> rowid of the record that holds it.
-- usage_key_marks: for each hour with records, the last rowid whose key is
-- in usage_keys. Rows of the hour above it are not indexed yet: after a
-- crash, the first group commit indexes them before it looks up any key.
-- The committer writes an hour's mark in the transaction of the hour's
-- first record, so that no hour has rows without one.
CREATE TABLE usage_keys (
	key BLOB    PRIMARY KEY,
	row INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE usage_key_marks (
	hour INTEGER PRIMARY KEY,
	last INTEGER NOT NULL
);

INSERT INTO usage_keys (key, row) SELECT key, rowid FROM usage_rows ORDER BY key;
INSERT INTO usage_key_marks (hour, last) SELECT rowid >> 32, max(rowid) FROM usage_rows GROUP BY rowid >> 32;
DROP INDEX usage_rows_key;

-- +goose StatementBegin
CREATE TRIGGER usage_rows_key_delete AFTER DELETE ON usage_rows BEGIN
	DELETE FROM usage_keys WHERE key = OLD.key AND row = OLD.rowid;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER usage_rows_key_delete;
CREATE UNIQUE INDEX usage_rows_key ON usage_rows (key);
DROP TABLE usage_key_marks;
DROP TABLE usage_keys;
