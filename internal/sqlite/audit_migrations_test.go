package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditMigrations checks the audit file's migrations as TestMigrations
// checks the main file's: OpenAudit migrates an empty file to the newest
// version, opening again changes nothing, and down and up again gives the
// same schema.
func TestAuditMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd-audit.db")
	files, err := fs.Glob(auditMigrations, "auditmigrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded audit migrations: %q, %v", files, err)
	}
	for i := range files {
		files[i] = filepath.Base(files[i])
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	check := func() string {
		p, err := newAuditProvider(raw)
		if err != nil {
			t.Fatal(err)
		}
		current, target, err := p.GetVersions(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := newestMigration(t, files); current != target || target != want {
			t.Errorf("schema version %d, newest %d, want %d", current, target, want)
		}
		return schema(t, raw)
	}

	var logs strings.Builder
	open := func() {
		t.Helper()
		db, err := OpenAudit(t.Context(), path, AuditOptions{Logger: slogTo(&logs)})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	open()
	if got := strings.Count(logs.String(), "applied audit log migration"); got != len(files) {
		t.Errorf("first OpenAudit applied %d migrations, want %d:\n%s", got, len(files), logs.String())
	}
	first := check()
	for _, table := range []string{"table audit_events:", "table metering_attempts:", "table moved_in:", "table " + auditVersionTable + ":"} {
		if !strings.Contains(first, table) {
			t.Errorf("no %s in\n%s", table, first)
		}
	}
	if strings.Contains(first, "goose_db_version") || strings.Contains(first, "usage_rows") {
		t.Errorf("the audit file has main tables:\n%s", first)
	}

	logs.Reset()
	open()
	if logs.Len() != 0 {
		t.Errorf("second OpenAudit logged:\n%s", logs.String())
	}
	if second := check(); second != first {
		t.Errorf("schema changed on reopen:\n%s\nwas\n%s", second, first)
	}

	p, err := newAuditProvider(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if got := schema(t, raw); strings.Contains(got, "audit_events") {
		t.Errorf("after down: %s", got)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	if again := schema(t, raw); again != first {
		t.Errorf("schema after down and up:\n%s\nwas\n%s", again, first)
	}
}
