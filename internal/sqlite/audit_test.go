package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/audit/audittest"
	"github.com/meterd/meterd/internal/sqlite"
)

func openAudit(t *testing.T, path string, opts sqlite.AuditOptions) *sqlite.AuditDB {
	t.Helper()
	db, err := sqlite.OpenAudit(t.Context(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestAuditStore(t *testing.T) {
	audittest.RunStoreTests(t, func(t *testing.T) audit.Store {
		return openAudit(t, filepath.Join(t.TempDir(), "meterd-audit.db"), sqlite.AuditOptions{})
	})
}

func TestAuditPath(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"meterd.db", "meterd-audit.db"},
		{"/var/lib/meterd/meterd.db", "/var/lib/meterd/meterd-audit.db"},
		{"/x/data.sqlite3", "/x/data-audit.sqlite3"},
		{"/x/meterd", "/x/meterd-audit"},
		{"/x.d/meterd", "/x.d/meterd-audit"},
		{"/x/.db", "/x/.db-audit"},
	} {
		if got := sqlite.AuditPath(tt.in); got != tt.want {
			t.Errorf("AuditPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// legacyEvents is what an older meterd kept in the main file: events, two
// of them in one millisecond, and attempts.
func legacyEvents() ([]audit.Event, []audit.Attempt) {
	var evs []audit.Event
	for i := range 75 {
		evs = append(evs, audittest.Event(i))
	}
	evs[11].EventTime = evs[10].EventTime
	var as []audit.Attempt
	for i := range 5 {
		as = append(as, audit.Attempt{Time: audittest.T0.Add(time.Duration(i) * time.Minute), Operation: "MeterUsage",
			RequestID: fmt.Sprint("req-", i), ProductCode: "p1", CustomerAccountID: "111111111111", Dimension: "hosts",
			Quantity: int64(i), Hour: audittest.T0, Status: "DuplicateRequestException", Reason: "duplicate"})
	}
	return evs, as
}

// oldLayout makes the main file an older meterd left: migrated as far as
// 00011, which put the audit tables in it, with events and attempts
// written as that meterd wrote them.
func oldLayout(t *testing.T, path string) {
	t.Helper()
	if err := sqlite.MigrateTo(t.Context(), path, 11); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	evs, as := legacyEvents()
	for _, e := range evs {
		body, _ := json.Marshal(e)
		var code any
		if e.ErrorCode != "" {
			code = e.ErrorCode
		}
		if _, err := raw.Exec(`INSERT INTO audit_events (event_ms, event_source, event_name, account_id, access_key_id, error_code, event) VALUES (?,?,?,?,?,?,?)`,
			e.EventTime.UnixMilli(), e.EventSource, e.EventName, e.UserIdentity.AccountID, e.UserIdentity.AccessKeyID, code, string(body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range as {
		body, _ := json.Marshal(a)
		if _, err := raw.Exec(`INSERT INTO metering_attempts (at_ms, hour, product_code, customer_account_id, customer_identifier, license_arn, attempt) VALUES (?,?,?,?,?,?,?)`,
			a.Time.UnixMilli(), a.Hour.Unix(), a.ProductCode, a.CustomerAccountID, a.CustomerIdentifier, a.LicenseArn, string(body)); err != nil {
			t.Fatal(err)
		}
	}
}

// lookupAll returns the request ids of every event, newest first, page by
// page.
func lookupAll(t *testing.T, s audit.Store) []string {
	t.Helper()
	var ids []string
	f := audit.Filter{MaxResults: 7}
	for {
		p, err := s.LookupEvents(t.Context(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Events {
			ids = append(ids, e.RequestID)
		}
		if p.NextToken == "" {
			return ids
		}
		f.NextToken = p.NextToken
	}
}

// checkMoved checks that the audit log holds the old events and attempts
// exactly once, in order, and that the main file no longer has them.
func checkMoved(t *testing.T, mainPath string, a *sqlite.AuditDB) {
	t.Helper()
	evs, as := legacyEvents()
	var want []string
	for i := len(evs) - 1; i >= 0; i-- {
		want = append(want, evs[i].RequestID)
	}
	// Events 10 and 11 share a millisecond: 11, stored later, comes first.
	if got := lookupAll(t, a); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events after the move:\n%v\nwant\n%v", got, want)
	}
	p, err := a.LookupEvents(t.Context(), audit.Filter{MaxResults: 1, ErrorCode: "ThrottlingException", EndTime: evs[3].EventTime})
	if err != nil || len(p.Events) != 1 || p.Events[0].EventID != evs[3].EventID {
		t.Errorf("newest error up to event 3: %+v, %v", p.Events, err)
	}
	got, err := a.Attempts(t.Context(), audit.AttemptFilter{ProductCode: "p1", Customer: "111111111111", Hour: audittest.T0})
	if err != nil || len(got) != len(as) {
		t.Fatalf("attempts after the move: %d, %v; want %d", len(got), err, len(as))
	}
	for i := range got {
		if got[i].RequestID != as[i].RequestID || !got[i].Time.Equal(as[i].Time) {
			t.Errorf("attempt %d: %+v, want %+v", i, got[i], as[i])
		}
	}

	raw, err := sql.Open("sqlite3", "file:"+mainPath+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var tables, tokens int
	if err := raw.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name IN ('audit_events', 'metering_attempts')`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if err := raw.QueryRow(`SELECT count(*) FROM settings WHERE name = 'audit_move_token'`).Scan(&tokens); err != nil {
		t.Fatal(err)
	}
	if tables != 0 || tokens != 0 {
		t.Errorf("the main file still has %d audit tables and %d move tokens", tables, tokens)
	}
}

// TestAuditMove upgrades an old-layout main file: its audit events and
// attempts are read from the audit file afterwards, once.
func TestAuditMove(t *testing.T) {
	dir := t.TempDir()
	mainPath := filepath.Join(dir, "meterd.db")
	oldLayout(t, mainPath)
	db := open(t, mainPath)
	defer db.Close()
	a := openAudit(t, sqlite.AuditPath(mainPath), sqlite.AuditOptions{From: db})
	checkMoved(t, mainPath, a)

	// New events follow the moved ones.
	ev := audittest.Event(100)
	if err := a.AppendAudit(t.Context(), []audit.Event{ev}, nil); err != nil {
		t.Fatal(err)
	}
	if p, err := a.LookupEvents(t.Context(), audit.Filter{MaxResults: 1}); err != nil || p.Events[0].RequestID != ev.RequestID {
		t.Errorf("newest event after the move: %+v, %v", p.Events, err)
	}
	a.Close()

	// Opening again moves nothing.
	a = openAudit(t, sqlite.AuditPath(mainPath), sqlite.AuditOptions{From: db})
	if p, err := a.LookupEvents(t.Context(), audit.Filter{MaxResults: 50, EndTime: audittest.T0.Add(99 * time.Second)}); err != nil || len(p.Events) != 50 {
		t.Errorf("after reopening: %d events, %v", len(p.Events), err)
	}
	if got := lookupAll(t, a); len(got) != 76 {
		t.Errorf("after reopening: %d events, want 76", len(got))
	}
}

// TestAuditMoveInterrupted crashes the move after each step: the next
// start finishes it without losing or duplicating a row.
func TestAuditMoveInterrupted(t *testing.T) {
	for _, step := range []string{"token", "copied"} {
		t.Run(step, func(t *testing.T) {
			mainPath := filepath.Join(t.TempDir(), "meterd.db")
			oldLayout(t, mainPath)
			db := open(t, mainPath)
			defer db.Close()
			auditPath := sqlite.AuditPath(mainPath)
			if a, err := sqlite.OpenAuditInterrupted(t.Context(), auditPath, db, step); !errors.Is(err, sqlite.ErrCrash) {
				if a != nil {
					a.Close()
				}
				t.Fatalf("interrupted move: %v", err)
			}
			// The main DB restarts too.
			db.Close()
			db = open(t, mainPath)
			defer db.Close()
			checkMoved(t, mainPath, openAudit(t, auditPath, sqlite.AuditOptions{From: db}))
		})
	}
}

// TestAuditMoveTwoFiles moves two old main files into one audit file: the
// second is a different file, so it is copied too.
func TestAuditMoveTwoFiles(t *testing.T) {
	dir := t.TempDir()
	auditPath := filepath.Join(dir, "audit.db")
	for _, name := range []string{"one.db", "two.db"} {
		mainPath := filepath.Join(dir, name)
		oldLayout(t, mainPath)
		db := open(t, mainPath)
		a := openAudit(t, auditPath, sqlite.AuditOptions{From: db})
		a.Close()
		db.Close()
	}
	a := openAudit(t, auditPath, sqlite.AuditOptions{})
	evs, _ := legacyEvents()
	if got := lookupAll(t, a); len(got) != 2*len(evs) {
		t.Errorf("%d events, want %d", len(got), 2*len(evs))
	}
}

// TestAuditFileNotMain refuses to keep the audit log in the main file.
func TestAuditFileNotMain(t *testing.T) {
	mainPath := filepath.Join(t.TempDir(), "meterd.db")
	db := open(t, mainPath)
	defer db.Close()
	if a, err := sqlite.OpenAudit(context.Background(), mainPath, sqlite.AuditOptions{From: db}); err == nil {
		a.Close()
		t.Fatal("OpenAudit on the main file succeeded")
	}
	// A new main file: its (empty) audit tables go, the move leaves nothing behind.
	a := openAudit(t, sqlite.AuditPath(mainPath), sqlite.AuditOptions{From: db})
	if got := lookupAll(t, a); len(got) != 0 {
		t.Errorf("%d events in a new audit log", len(got))
	}
}
