package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/app"
	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/sqlite"
)

func openApp(t *testing.T, cfg app.Config) *app.App {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	a, err := app.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func requestIDs(t *testing.T, a *app.App) []string {
	t.Helper()
	p, err := a.Audit.Lookup(t.Context(), audit.Filter{EventSource: audit.SourceAdmin})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range p.Events {
		ids = append(ids, e.RequestID)
	}
	return ids
}

func adminEvent(id string, at time.Time) audit.Event {
	return audit.Event{EventTime: at.UTC().Truncate(time.Millisecond), EventSource: audit.SourceAdmin, EventName: "ListProducts",
		UserIdentity: audit.UserIdentity{Type: audit.IdentityAdmin}, RequestID: id, EventID: id, EventType: audit.TypeAdminCall}
}

func tables(t *testing.T, path string) (n int) {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if err := raw.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name IN ('audit_events', 'metering_attempts')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAuditDatabase upgrades a database of an older meterd, whose audit
// log was in the main file: meterd moves it beside, into meterd-audit.db,
// and keeps writing there across restarts.
func TestAuditDatabase(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "meterd.db")
	old, err := sqlite.Open(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()
	raw, err := sql.Open("sqlite3", db)
	if err != nil {
		t.Fatal(err)
	}
	ev := adminEvent("old-event", time.Now().Add(-time.Hour))
	body, _ := json.Marshal(ev)
	if _, err := raw.Exec(`INSERT INTO audit_events (event_ms, event_source, event_name, account_id, access_key_id, event) VALUES (?, ?, ?, '', '', ?)`,
		ev.EventTime.UnixMilli(), ev.EventSource, ev.EventName, string(body)); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	a := openApp(t, app.Config{Database: db})
	if got := requestIDs(t, a); len(got) != 1 || got[0] != "old-event" {
		t.Errorf("after the upgrade: events %v, want old-event", got)
	}
	a.Audit.Record(adminEvent("new-event", time.Now()), nil)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := tables(t, db); n != 0 {
		t.Errorf("the main file has %d audit tables after the upgrade", n)
	}
	if n := tables(t, filepath.Join(dir, "meterd-audit.db")); n != 2 {
		t.Errorf("meterd-audit.db has %d audit tables, want 2", n)
	}

	a = openApp(t, app.Config{Database: db})
	defer a.Close()
	if got := requestIDs(t, a); len(got) != 2 || got[0] != "new-event" || got[1] != "old-event" {
		t.Errorf("after a restart: events %v, want new-event, old-event", got)
	}
}

// TestAuditDatabaseFlag puts the audit log where Config.AuditDatabase
// says, and nowhere else.
func TestAuditDatabaseFlag(t *testing.T) {
	dir := t.TempDir()
	db, auditDB := filepath.Join(dir, "meterd.db"), filepath.Join(dir, "elsewhere", "audit.sqlite")
	if err := os.Mkdir(filepath.Dir(auditDB), 0o700); err != nil {
		t.Fatal(err)
	}
	a := openApp(t, app.Config{Database: db, AuditDatabase: auditDB})
	a.Audit.Record(adminEvent("one", time.Now()), nil)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := tables(t, auditDB); n != 2 {
		t.Errorf("%s has %d audit tables, want 2", auditDB, n)
	}
	if _, err := os.Stat(filepath.Join(dir, "meterd-audit.db")); !os.IsNotExist(err) {
		t.Errorf("meterd-audit.db: %v, want no such file", err)
	}
	a = openApp(t, app.Config{Database: db, AuditDatabase: auditDB})
	defer a.Close()
	if got := requestIDs(t, a); len(got) != 1 || got[0] != "one" {
		t.Errorf("events %v, want one", got)
	}

	if b, err := app.Open(t.Context(), app.Config{Listen: "127.0.0.1:0", Database: filepath.Join(dir, "other.db"), AuditDatabase: db}); err == nil {
		b.Close()
		t.Error("Open with the audit log in another meterd's main database succeeded")
	}
}
