package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/audit"
	"github.com/meterd/meterd/internal/audit/audittest"
	"github.com/meterd/meterd/internal/pgtest"
)

func TestAuditStore(t *testing.T) {
	t.Parallel()
	audittest.RunStoreTests(t, func(t *testing.T) audit.Store {
		return openClosed(t, pgtest.NewDatabase(t))
	})
}

// lookupIDs follows NextToken to the end and returns the request ids,
// newest first.
func lookupIDs(t *testing.T, s interface {
	LookupEvents(context.Context, audit.Filter) (audit.Page, error)
}, f audit.Filter) []string {
	t.Helper()
	var ids []string
	for {
		if err := f.Normalize(); err != nil {
			t.Fatal(err)
		}
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

// TestAuditReplicas: replicas share the audit log. An event one replica
// writes is looked up on the other, through the stores and through each
// replica's audit.Log, and replicas writing at once lose nothing.
func TestAuditReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	a, b := openClosed(t, dsn), openClosed(t, dsn)
	ctx := t.Context()

	if err := a.AppendAudit(ctx, []audit.Event{audittest.Event(0), audittest.Event(1)}, nil); err != nil {
		t.Fatal(err)
	}
	if got := lookupIDs(t, b, audit.Filter{}); fmt.Sprint(got) != "[req-1 req-0]" {
		t.Errorf("replica b sees %v, want replica a's [req-1 req-0]", got)
	}
	att := audit.Attempt{Time: audittest.T0, Operation: "MeterUsage", RequestID: "req-x", ProductCode: "p1",
		CustomerAccountID: "111111111111", Dimension: "hosts", Hour: audittest.T0.Truncate(time.Hour), Status: "DuplicateRequestException"}
	if err := b.AppendAudit(ctx, nil, []audit.Attempt{att}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Attempts(ctx, audit.AttemptFilter{ProductCode: "p1", Customer: "111111111111", Hour: att.Hour}); err != nil || len(got) != 1 || got[0].RequestID != "req-x" {
		t.Errorf("replica a's attempts: %+v, %v; want replica b's req-x", got, err)
	}

	// Through the logs: b sees a's event once a has written it, within a
	// flush interval, without asking a for anything.
	logA := audit.Start(a, audit.Options{FlushInterval: 20 * time.Millisecond})
	logB := audit.Start(b, audit.Options{FlushInterval: 20 * time.Millisecond})
	defer logA.Close()
	defer logB.Close()
	ev := audittest.Event(2)
	ev.EventTime = time.Now()
	logA.Record(ev, nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := logB.Lookup(ctx, audit.Filter{MaxResults: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Events) == 1 && p.Events[0].RequestID == ev.RequestID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica b never saw replica a's event; newest %+v", p.Events)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Both replicas writing at once, events of one millisecond among
	// them: every event is stored once, and each replica's order within
	// the millisecond is kept.
	const perReplica, batches = 50, 10
	var wg sync.WaitGroup
	errs := make([]error, 2*batches)
	for r, db := range []interface {
		AppendAudit(context.Context, []audit.Event, []audit.Attempt) error
	}{a, b} {
		for batch := range batches {
			wg.Go(func() {
				var evs []audit.Event
				for i := range perReplica / batches {
					e := audittest.Event(1000 + r*perReplica + batch*perReplica/batches + i)
					e.EventTime = audittest.T0.Add(time.Hour)
					evs = append(evs, e)
				}
				errs[r*batches+batch] = db.AppendAudit(context.Background(), evs, nil)
			})
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	same := audit.Filter{StartTime: audittest.T0.Add(time.Hour), EndTime: audittest.T0.Add(time.Hour), MaxResults: 7}
	got := lookupIDs(t, a, same)
	if len(got) != 2*perReplica {
		t.Fatalf("%d events of the concurrent batches, want %d", len(got), 2*perReplica)
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("event %s listed twice", id)
		}
		seen[id] = true
	}
	if fmt.Sprint(lookupIDs(t, b, same)) != fmt.Sprint(got) {
		t.Error("the replicas list the concurrent events in different orders")
	}

	// Pruning on one replica deletes the other's events too.
	n, err := b.PruneAudit(ctx, audittest.T0.Add(time.Minute))
	if err != nil || n != 3 {
		t.Errorf("PruneAudit = %d, %v; want 3 (a's two events, b's attempt)", n, err)
	}
	if got := lookupIDs(t, a, audit.Filter{EndTime: audittest.T0.Add(time.Minute)}); len(got) != 0 {
		t.Errorf("after pruning, replica a still sees %v", got)
	}
}

// TestAuditOddText: calls that failed validation may carry NUL bytes and
// invalid UTF-8, which PostgreSQL text refuses. Their events are stored
// anyway, and filters with the same values find them.
func TestAuditOddText(t *testing.T) {
	t.Parallel()
	db := openClosed(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	ev := audittest.Event(1)
	ev.EventName, ev.UserIdentity.AccessKeyID = "Meter\xffUsage", "AKIA\x00BAD"
	ev.RequestParameters = []byte("{\"ProductCode\":\"p\xfe\"}")
	att := audit.Attempt{Time: audittest.T0, ProductCode: "p\x00", CustomerIdentifier: "c\xff", Hour: audittest.T0, Status: "InvalidProductCodeException"}
	if err := db.AppendAudit(ctx, []audit.Event{ev}, []audit.Attempt{att}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []audit.Filter{{EventName: ev.EventName}, {AccessKeyID: ev.UserIdentity.AccessKeyID}} {
		if got := lookupIDs(t, db, f); fmt.Sprint(got) != "[req-1]" {
			t.Errorf("lookup %+v: %v, want [req-1]", f, got)
		}
	}
	got, err := db.Attempts(ctx, audit.AttemptFilter{ProductCode: att.ProductCode, Customer: att.CustomerIdentifier, Hour: att.Hour})
	if err != nil || len(got) != 1 {
		t.Errorf("attempts: %+v, %v; want one", got, err)
	}
}

// TestAuditBacklog appends a batch larger than one insert takes, as after
// an outage, all in one millisecond: every event is stored, in order.
func TestAuditBacklog(t *testing.T) {
	t.Parallel()
	db := openClosed(t, pgtest.NewDatabase(t))
	const n = 4500
	evs := make([]audit.Event, n)
	as := make([]audit.Attempt, n)
	var want []string
	for i := range n {
		evs[i] = audittest.Event(i)
		evs[i].EventTime = audittest.T0
		as[i] = audit.Attempt{Time: audittest.T0, ProductCode: "p1", CustomerAccountID: "111111111111", Hour: audittest.T0.Truncate(time.Hour), RequestID: fmt.Sprint("req-", i)}
		want = append(want, fmt.Sprint("req-", n-1-i))
	}
	if err := db.AppendAudit(t.Context(), evs, as[:n/2]); err != nil {
		t.Fatal(err)
	}
	if got := lookupIDs(t, db, audit.Filter{}); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%d events stored, want %d in the order appended", len(got), n)
	}
	got, err := db.Attempts(t.Context(), audit.AttemptFilter{ProductCode: "p1", Customer: "111111111111", Hour: audittest.T0, Limit: n})
	if err != nil || len(got) != n/2 || got[n/2-1].RequestID != fmt.Sprint("req-", n/2-1) {
		t.Errorf("%d attempts stored, %v; want %d in order", len(got), err, n/2)
	}
}
