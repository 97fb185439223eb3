package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/metering"
)

var _ metering.Outbox = (*DB)(nil)

const notificationColumns = `id, product_code, url, action, body, created, not_before, status, attempts, next_attempt, last_error, delivered`

// Enqueue stores notifications for delivery, in one transaction.
func (db *DB) Enqueue(ctx context.Context, ns []metering.Notification) error {
	if len(ns) == 0 {
		return nil
	}
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	b := &pgx.Batch{}
	for _, n := range ns {
		b.Queue(`INSERT INTO notifications (`+notificationColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			n.ID, n.ProductCode, n.URL, n.Action, n.Body, millis(n.CreatedAt), millis(n.NotBefore),
			string(n.Status), n.Attempts, millis(n.NextAttempt), n.LastError, nullTime(n.DeliveredAt))
	}
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("postgres: enqueue: %w", err)
	}
	return nil
}

// ClaimDue leases due notifications by moving their next attempt past the
// lease, so that a second claimer skips them until the lease runs out.
// SKIP LOCKED lets replicas claim at once without waiting on each other or
// taking the same message.
func (db *DB) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]metering.Notification, error) {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	rows, _ := db.pool.Query(ctx, `UPDATE notifications SET next_attempt = $1
		WHERE id IN (SELECT id FROM notifications WHERE status = 'pending' AND next_attempt <= $2
			ORDER BY next_attempt LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+notificationColumns, millis(now.Add(lease)), millis(now), limit)
	ns, err := pgx.CollectRows(rows, scanNotification)
	if err != nil {
		return nil, fmt.Errorf("postgres: claim notifications: %w", err)
	}
	return ns, nil
}

// Record stores a delivery attempt's outcome.
func (db *DB) Record(ctx context.Context, n metering.Notification) error {
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	_, err := db.pool.Exec(ctx, `UPDATE notifications SET status = $1, attempts = $2, next_attempt = $3, last_error = $4, delivered = $5
		WHERE id = $6`, string(n.Status), n.Attempts, millis(n.NextAttempt), n.LastError, nullTime(n.DeliveredAt), n.ID)
	if err != nil {
		return fmt.Errorf("postgres: record delivery: %w", err)
	}
	return nil
}

// Notifications lists the outbox, newest first.
func (db *DB) Notifications(ctx context.Context, f metering.NotificationFilter) ([]metering.Notification, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	ctx, cancel := db.withTimeout(ctx)
	defer cancel()
	rows, _ := db.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications
		WHERE ($1 = '' OR product_code = $1) AND ($2 = '' OR status = $2)
		ORDER BY created DESC, id LIMIT $3`, f.ProductCode, string(f.Status), limit)
	ns, err := pgx.CollectRows(rows, scanNotification)
	if err != nil {
		return nil, fmt.Errorf("postgres: notifications: %w", err)
	}
	return ns, nil
}

func scanNotification(row pgx.CollectableRow) (metering.Notification, error) {
	var (
		n                          metering.Notification
		status                     string
		created, notBefore, nextAt time.Time
		delivered                  *time.Time
	)
	if err := row.Scan(&n.ID, &n.ProductCode, &n.URL, &n.Action, &n.Body, &created, &notBefore, &status,
		&n.Attempts, &nextAt, &n.LastError, &delivered); err != nil {
		return n, err
	}
	n.Status = metering.DeliveryStatus(status)
	n.CreatedAt, n.NotBefore, n.NextAttempt = created.UTC(), notBefore.UTC(), nextAt.UTC()
	n.DeliveredAt = fromNull(delivered)
	return n, nil
}
