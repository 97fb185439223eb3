package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

func openTest(t *testing.T, opts Options) *DB {
	t.Helper()
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "meterd.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func rec(key string) metering.Record {
	ts := time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC)
	return metering.Record{ID: "id-" + key, Key: key, ProductCode: "p", Dimension: "d", Timestamp: ts, Quantity: 1, CreatedAt: ts}
}

func recs(prefix string, n int) []metering.Record {
	out := make([]metering.Record, n)
	for i := range out {
		out[i] = rec(fmt.Sprint(prefix, i))
	}
	return out
}

// gate holds the committer before its first batch, so that a test can queue
// jobs that the next batch must take together.
type gate struct {
	once    sync.Once
	open    chan struct{}
	mu      sync.Mutex
	batches [][]int // records per job, per batch
}

func newGate(db *DB) *gate {
	g := &gate{open: make(chan struct{})}
	db.hooks.beforeBatch = func(batch []*job) {
		sizes := make([]int, len(batch))
		for i, j := range batch {
			sizes[i] = len(j.recs)
		}
		g.mu.Lock()
		g.batches = append(g.batches, sizes)
		g.mu.Unlock()
		<-g.open
	}
	return g
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// held waits until the committer is held at the gate with its first batch.
func (g *gate) held(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		g.mu.Lock()
		n := len(g.batches)
		g.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the committer never reached the gate")
		}
		time.Sleep(time.Millisecond)
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// waitQueued waits until n jobs wait in the queue.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for db.jobs.Len() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d jobs queued, want %d", db.jobs.Len(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

type result struct {
	out []metering.Record
	err error
}

// goPut runs PutRecords in a goroutine; the result arrives on the channel.
func goPut(ctx context.Context, db *DB, rs []metering.Record) <-chan result {
	c := make(chan result, 1)
	go func() {
		out, err := db.PutRecords(ctx, rs)
		c <- result{out, err}
	}()
	return c
}

func stored(t *testing.T, db *DB) int64 {
	t.Helper()
	var n int64
	if err := db.read.QueryRowContext(t.Context(), "SELECT count(*) FROM usage_records").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSavepoints checks that a failing call in a group commit rolls back
// alone: the calls before and after it in the same transaction commit.
func TestSavepoints(t *testing.T) {
	db := openTest(t, Options{})
	g := newGate(db)
	errBoom := errors.New("boom")
	db.hooks.insert = func(r metering.Record) error {
		if r.Key == "bad" {
			return errBoom
		}
		return nil
	}
	blocker := goPut(t.Context(), db, recs("blocker", 1))
	g.held(t)
	a := goPut(t.Context(), db, recs("a", 2))
	waitQueued(t, db, 1)
	b := goPut(t.Context(), db, append(recs("b", 2), rec("bad")))
	waitQueued(t, db, 2)
	dup := rec("a0")
	dup.ID = "id-dup"
	c := goPut(t.Context(), db, []metering.Record{rec("c0"), dup})
	waitQueued(t, db, 3)
	g.release()

	for _, r := range []result{<-blocker, <-a} {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	if r := <-b; !errors.Is(r.err, errBoom) || r.out != nil {
		t.Errorf("failing call returned %v, %v; want nil, %v", r.out, r.err, errBoom)
	}
	r := <-c
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := []string{r.out[0].ID, r.out[1].ID}; !slices.Equal(got, []string{"id-c0", "id-a0"}) {
		t.Errorf("call after the failing one got IDs %q, want id-c0 and id-a0 (from the earlier call in the batch)", got)
	}
	if n := stored(t, db); n != 4 {
		t.Errorf("%d records stored, want 4 (blocker0, a0, a1, c0)", n)
	}
	if want := [][]int{{1}, {2, 3, 2}}; !reflect.DeepEqual(g.batches, want) {
		t.Errorf("batches %v, want %v", g.batches, want)
	}
	if s, want := db.Stats(), (Stats{Commits: 2, Calls: 3, Records: 5}); s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
}

// TestMaxBatch checks that a batch stops taking calls at MaxBatch records,
// and that one call bigger than MaxBatch still commits whole.
func TestMaxBatch(t *testing.T) {
	db := openTest(t, Options{MaxBatch: 10})
	g := newGate(db)
	blocker := goPut(t.Context(), db, recs("blocker", 1))
	g.held(t)
	var results []<-chan result
	for i, n := range []int{4, 4, 4, 25, 4} {
		results = append(results, goPut(t.Context(), db, recs(fmt.Sprint("j", i, "-"), n)))
		waitQueued(t, db, i+1)
	}
	g.release()
	for _, c := range append(results, blocker) {
		if r := <-c; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if want := [][]int{{1}, {4, 4}, {4}, {25}, {4}}; !reflect.DeepEqual(g.batches, want) {
		t.Errorf("batches %v, want %v", g.batches, want)
	}
	if n := stored(t, db); n != 42 {
		t.Errorf("%d records stored, want 42", n)
	}
}

// TestCancel checks the two sides of cancellation: a call still queued
// gives up and stores nothing; a call the committer has taken finishes.
func TestCancel(t *testing.T) {
	db := openTest(t, Options{})
	g := newGate(db)
	takenCtx, cancelTaken := context.WithCancel(t.Context())
	taken := goPut(takenCtx, db, recs("taken", 1))
	g.held(t)
	queuedCtx, cancelQueued := context.WithCancel(t.Context())
	queued := goPut(queuedCtx, db, recs("queued", 3))
	waitQueued(t, db, 1)

	cancelQueued()
	if r := <-queued; !errors.Is(r.err, context.Canceled) {
		t.Errorf("queued call after cancel: %v, want context.Canceled", r.err)
	}
	cancelTaken()
	select {
	case r := <-taken:
		t.Fatalf("taken call returned before its commit: %+v", r)
	case <-time.After(20 * time.Millisecond):
	}
	g.release()
	if r := <-taken; r.err != nil || len(r.out) != 1 {
		t.Errorf("taken call: %v, %v; want its record stored", r.out, r.err)
	}
	if n := stored(t, db); n != 1 {
		t.Errorf("%d records stored, want 1", n)
	}
}

func TestAllocationsEncoding(t *testing.T) {
	tests := []struct {
		in   []metering.Allocation
		want any
	}{
		{nil, nil},
		{[]metering.Allocation{}, "[]"},
		{[]metering.Allocation{{Quantity: 5}}, "[[5]]"},
		{[]metering.Allocation{{Quantity: 5, Tags: []metering.Tag{}}}, "[[5,[]]]"},
		{[]metering.Allocation{{Quantity: 3, Tags: []metering.Tag{{Key: "k", Value: "v\"<"}, {Key: "a", Value: "b"}}}, {Quantity: 0}}, `[[3,["k","v\"\u003c","a","b"]],[0]]`},
	}
	for _, tt := range tests {
		got, err := encodeAllocations(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("encodeAllocations(%+v) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			continue
		}
		if got == nil {
			continue
		}
		back, err := decodeAllocations(got.(string))
		if err != nil || !reflect.DeepEqual(back, tt.in) {
			t.Errorf("decodeAllocations(%s) = %+v, %v; want %+v", got, back, err, tt.in)
		}
	}
	for _, bad := range []string{"", "{}", "[[]]", "[[1,[],2]]", `[[1,["k"]]]`, `[["x"]]`} {
		if _, err := decodeAllocations(bad); err == nil {
			t.Errorf("decodeAllocations(%q) succeeded", bad)
		}
	}
}

// schema lists the database's tables and indexes as SQLite stores them.
func schema(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, text string
		if err := rows.Scan(&typ, &name, &text); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s: %s\n", typ, name, text)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestMigrations checks that Open migrates an empty file to the newest
// version and that opening a migrated file changes nothing.
func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %q, %v", files, err)
	}

	check := func() string {
		raw, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		p, err := newProvider(raw)
		if err != nil {
			t.Fatal(err)
		}
		current, target, err := p.GetVersions(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := max(newestMigration(t, files), newestGoMigration()); current != target || target != want {
			t.Errorf("schema version %d, newest %d, want %d", current, target, want)
		}
		if pending, err := p.HasPending(t.Context()); err != nil || pending {
			t.Errorf("HasPending = %v, %v", pending, err)
		}
		return schema(t, raw)
	}

	var logs strings.Builder
	opts := Options{Logger: slogTo(&logs)}
	db, err := Open(t.Context(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(logs.String(), "applied migration"), len(files)+len(goMigrations()); got != want {
		t.Errorf("first Open applied %d migrations, want %d:\n%s", got, want, logs.String())
	}
	first := check()
	for _, table := range []string{"table accounts", "table access_keys", "table products", "table customers",
		"table entitlements", "table registration_tokens", "table usage_rows", "table usage_names", "view usage_records"} {
		if !strings.Contains(first, table+":") {
			t.Errorf("no %s in\n%s", table, first)
		}
	}

	logs.Reset()
	db, err = Open(t.Context(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Errorf("second Open logged:\n%s", logs.String())
	}
	if second := check(); second != first {
		t.Errorf("schema changed on reopen:\n%s\nwas\n%s", second, first)
	}

	// Down to nothing and up again gives the same schema, so the Down
	// sections are usable.
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	p, err := newProvider(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if got := schema(t, raw); strings.Contains(got, "usage_records") {
		t.Errorf("after down: %s", got)
	}
	if _, err := p.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	if again := schema(t, raw); again != first {
		t.Errorf("schema after down and up:\n%s\nwas\n%s", again, first)
	}
}
