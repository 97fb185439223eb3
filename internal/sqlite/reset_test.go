package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// TestWipeUsage checks that WipeUsage deletes usage records and
// registrations, and that a wiped key takes a new record.
func TestWipeUsage(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "meterd.db"))
	t.Cleanup(func() { db.Close() })
	if _, err := db.PutRecords(ctx, []metering.Record{testRecord("a"), testRecord("b")}); err != nil {
		t.Fatal(err)
	}
	reg := metering.Registration{Resource: "task-1", ProductCode: "prod-ami", AccountID: "222222222222", At: time.Now()}
	if err := db.PutRegistration(ctx, reg); err != nil {
		t.Fatal(err)
	}
	n, err := db.WipeUsage(ctx)
	if err != nil || n != 2 {
		t.Fatalf("WipeUsage = %d, %v; want 2 records", n, err)
	}
	if rows, err := db.UsageSummary(ctx, metering.UsageFilter{}); err != nil || len(rows) != 0 {
		t.Errorf("after WipeUsage: %d usage rows, %v", len(rows), err)
	}
	if ok, err := db.Registered(ctx, reg.Resource, reg.ProductCode); err != nil || ok {
		t.Errorf("after WipeUsage: registered %v, %v", ok, err)
	}
	again := testRecord("a")
	again.ID = "id-a-again"
	got, err := db.PutRecords(ctx, []metering.Record{again})
	if err != nil || got[0].ID != again.ID {
		t.Errorf("a wiped key: stored %+v, %v; want the new record", got, err)
	}
	if n, err := db.WipeUsage(ctx); err != nil || n != 1 {
		t.Errorf("second WipeUsage = %d, %v; want 1", n, err)
	}
}
