package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

var _ metering.Outbox = (*DB)(nil)

const notificationColumns = `id, product_code, url, action, body, created_ms, not_before_ms, status, attempts, next_ms, last_error, delivered_ms`

// Enqueue stores notifications for delivery, in one transaction.
func (db *DB) Enqueue(ctx context.Context, ns []metering.Notification) (err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: enqueue: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			err = fmt.Errorf("sqlite: enqueue: %w", err)
		}
	}()
	for _, n := range ns {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (`+notificationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			n.ID, n.ProductCode, n.URL, n.Action, n.Body, n.CreatedAt.UnixMilli(), n.NotBefore.UnixMilli(),
			string(n.Status), n.Attempts, n.NextAttempt.UnixMilli(), n.LastError, millis(n.DeliveredAt)); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ClaimDue leases due notifications by moving their next attempt past the
// lease, so a second claimer skips them until the lease runs out.
func (db *DB) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]metering.Notification, error) {
	rows, err := db.write.QueryContext(ctx, `UPDATE notifications SET next_ms = ?
		WHERE id IN (SELECT id FROM notifications WHERE status = 'pending' AND next_ms <= ? ORDER BY next_ms LIMIT ?)
		RETURNING `+notificationColumns, now.Add(lease).UnixMilli(), now.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim notifications: %w", err)
	}
	return scanNotifications(rows)
}

// Record stores a delivery attempt's outcome.
func (db *DB) Record(ctx context.Context, n metering.Notification) error {
	_, err := db.write.ExecContext(ctx, `UPDATE notifications SET status = ?, attempts = ?, next_ms = ?, last_error = ?, delivered_ms = ?
		WHERE id = ?`, string(n.Status), n.Attempts, n.NextAttempt.UnixMilli(), n.LastError, millis(n.DeliveredAt), n.ID)
	if err != nil {
		return fmt.Errorf("sqlite: record delivery: %w", err)
	}
	return nil
}

// Notifications lists the outbox, newest first.
func (db *DB) Notifications(ctx context.Context, f metering.NotificationFilter) ([]metering.Notification, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE (? = '' OR product_code = ?) AND (? = '' OR status = ?)
		ORDER BY created_ms DESC, id LIMIT ?`, f.ProductCode, f.ProductCode, string(f.Status), string(f.Status), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: notifications: %w", err)
	}
	return scanNotifications(rows)
}

func scanNotifications(rows *sql.Rows) ([]metering.Notification, error) {
	defer rows.Close()
	var out []metering.Notification
	for rows.Next() {
		var (
			n                          metering.Notification
			status                     string
			created, notBefore, nextMS int64
			delivered                  sql.Null[int64]
		)
		if err := rows.Scan(&n.ID, &n.ProductCode, &n.URL, &n.Action, &n.Body, &created, &notBefore, &status,
			&n.Attempts, &nextMS, &n.LastError, &delivered); err != nil {
			return nil, fmt.Errorf("sqlite: scan notification: %w", err)
		}
		n.Status = metering.DeliveryStatus(status)
		n.CreatedAt, n.NotBefore, n.NextAttempt = time.UnixMilli(created).UTC(), time.UnixMilli(notBefore).UTC(), time.UnixMilli(nextMS).UTC()
		n.DeliveredAt = fromMillis(delivered)
		out = append(out, n)
	}
	return out, rows.Err()
}
