package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/audit/audittest"
	"github.com/meterd/meterd/internal/pgtest"
)

// TestAuditPlans checks that on an audit log of some size, with fresh
// statistics, the planner answers every lookup from an index, a page
// without sorting, and prunes from the time indexes.
func TestAuditPlans(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	db, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 20000
	evs := make([]audit.Event, n)
	as := make([]audit.Attempt, n)
	for i := range n {
		evs[i] = audittest.Event(i)
		as[i] = audit.Attempt{Time: evs[i].EventTime, ProductCode: []string{"p1", "p2", "p3", "p4"}[i%4],
			CustomerAccountID: evs[i].UserIdentity.AccountID, Hour: evs[i].EventTime.Truncate(time.Hour)}
	}
	if err := db.AppendAudit(t.Context(), evs, as); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `ANALYZE audit_events; ANALYZE metering_attempts`); err != nil {
		t.Fatal(err)
	}
	plan := func(q string, args ...any) string {
		t.Helper()
		rows, _ := conn.Query(t.Context(), "EXPLAIN "+q, args...)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("EXPLAIN %s: %v", q, err)
		}
		return strings.Join(lines, "\n")
	}
	mid := audit.Cursor{TimeMS: audittest.T0.Add(n / 2 * time.Second).UnixMilli(), Seq: n / 2}
	for _, tt := range []struct {
		name  string
		f     audit.Filter
		paged bool
		index string
	}{
		{"newest", audit.Filter{}, false, "audit_events_time"},
		{"next page", audit.Filter{}, true, "audit_events_time"},
		{"time range", audit.Filter{StartTime: audittest.T0.Add(time.Hour), EndTime: audittest.T0.Add(2 * time.Hour)}, false, "audit_events_time"},
		{"account", audit.Filter{Account: "222222222222"}, true, ""},
		{"event name", audit.Filter{EventName: "BatchMeterUsage"}, true, ""},
		{"error code", audit.Filter{ErrorCode: "ThrottlingException"}, true, ""},
		{"rare account", audit.Filter{Account: "999999999999"}, false, "audit_events_account"},
		{"rare event name", audit.Filter{EventName: "PutAccount"}, false, "audit_events_name"},
		{"rare error code", audit.Filter{ErrorCode: "InvalidProductCodeException"}, false, "audit_events_error"},
		{"source and access key", audit.Filter{EventSource: audit.SourceMetering, AccessKeyID: "AKIA1"}, true, ""},
	} {
		q, args := lookupEventsSQL(tt.f, mid, tt.paged)
		p := plan(q, args...)
		t.Logf("%s:\n%s", tt.name, p)
		if strings.Contains(p, "Seq Scan") || strings.Contains(p, "Sort") || !strings.Contains(p, "Index") ||
			(tt.index != "" && !strings.Contains(p, tt.index)) {
			t.Errorf("%s: LookupEvents plan\n%s\nwant an index scan (%s) without a sort", tt.name, p, tt.index)
		}
	}
	if p := plan(attemptsSQL, "p1", audittest.T0.Truncate(time.Hour), "111111111111", 1000); !strings.Contains(p, "metering_attempts_hour") {
		t.Errorf("Attempts plan\n%s\nwant metering_attempts_hour", p)
	}
	for i, index := range []string{"audit_events_time", "metering_attempts_time"} {
		if p := plan(pruneAuditSQL[i], audittest.T0.Add(time.Minute)); !strings.Contains(p, index) || strings.Contains(p, "Seq Scan") {
			t.Errorf("PruneAudit plan\n%s\nwant %s", p, index)
		}
	}
}
