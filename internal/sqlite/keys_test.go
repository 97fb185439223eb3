package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// hourRec is a record with a key as the Service makes it for hourly
// metering: it waits in memory for a catch-up (keys.go). n picks the
// customer, hour the hour after a base.
func hourRec(n, hour int) metering.Record {
	ts := time.Date(2026, 3, 1, 10, 15, 0, 0, time.UTC).Add(time.Duration(hour) * time.Hour)
	key := metering.HourKey(ts, "bm", "p", fmt.Sprint("customer-", n), "d")
	return metering.Record{ID: metering.RecordID(key), Key: key, Fingerprint: "fp", ProductCode: "p",
		CustomerAccountID: fmt.Sprint("customer-", n), Dimension: "d", Timestamp: ts, Quantity: 1, CreatedAt: ts}
}

// anyHourRec is a record with an AgentCore key, which goes into usage_keys
// in its own group commit.
func anyHourRec(n int) metering.Record {
	r := hourRec(n, 0)
	r.Key = metering.AnyHourKey("mu", "token", fmt.Sprint(n))
	r.ID = metering.RecordID(r.Key)
	return r
}

// checkKeys checks the invariants of usage_keys and usage_key_marks that
// make idempotency survive a restart: every hour with rows has a mark,
// every row at or below its mark has its key indexed, every indexed key
// names a row that holds it, and no two rows share a key.
func checkKeys(t *testing.T, path string) {
	t.Helper()
	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, c := range []struct{ what, query string }{
		{"rows of an hour without a mark", `SELECT count(*) FROM usage_rows AS r
			WHERE NOT EXISTS (SELECT 1 FROM usage_key_marks WHERE hour = r.rowid >> 32)`},
		{"rows at or below their mark whose key is not indexed", `SELECT count(*) FROM usage_rows AS r
			JOIN usage_key_marks AS m ON m.hour = r.rowid >> 32
			WHERE r.rowid <= m.last AND NOT EXISTS (SELECT 1 FROM usage_keys WHERE key = r.key AND row = r.rowid)`},
		{"indexed keys naming no row that holds them", `SELECT count(*) FROM usage_keys AS k
			WHERE NOT EXISTS (SELECT 1 FROM usage_rows WHERE rowid = k.row AND key = k.key)`},
		{"keys held by two rows", `SELECT count(*) FROM (SELECT key FROM usage_rows GROUP BY key HAVING count(*) > 1)`},
	} {
		var n int
		if err := raw.QueryRowContext(t.Context(), c.query).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%d %s", n, c.what)
		}
	}
}

// openKeys opens the store at path, closed when the test ends, with
// catch-ups after maxPending keys or maxAge; 0 and 0 keep the defaults.
func openKeys(t *testing.T, path string, maxPending int, maxAge time.Duration) *DB {
	t.Helper()
	db, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if maxPending > 0 {
		db.keys.maxPending, db.keys.maxAge = maxPending, maxAge
	}
	return db
}

// never is a maxAge no test reaches.
const never = time.Hour

func countKeys(t *testing.T, db *DB) (keys, rows int) {
	t.Helper()
	if err := db.read.QueryRowContext(t.Context(), `SELECT (SELECT count(*) FROM usage_keys), (SELECT count(*) FROM usage_rows)`).Scan(&keys, &rows); err != nil {
		t.Fatal(err)
	}
	return keys, rows
}

// putExpect stores rs and checks that each answer has the ID in want.
func putExpect(t *testing.T, db *DB, rs []metering.Record, want []string) {
	t.Helper()
	out, err := db.PutRecords(t.Context(), rs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if out[i].ID != want[i] {
			t.Errorf("record %d: answered ID %q, want %q", i, out[i].ID, want[i])
		}
	}
}

func ids(rs []metering.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// retried returns rs with other IDs, as a retry whose first answer was
// lost would carry: the store must answer the stored ones.
func retried(rs []metering.Record) []metering.Record {
	out := make([]metering.Record, len(rs))
	for i, r := range rs {
		r.ID = "retry-" + r.ID
		out[i] = r
	}
	return out
}

// TestDeferredKeys checks idempotency whichever way a key is known: in the
// open transaction, pending in memory, or indexed by a catch-up, with
// catch-ups never, after every group commit, and every few records.
func TestDeferredKeys(t *testing.T) {
	for _, c := range []struct {
		name       string
		maxPending int
		maxAge     time.Duration
	}{
		{"never", 1 << 30, never},
		{"always", 1 << 30, 0},
		{"every 10 keys", 10, never},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "meterd.db")
			db := openKeys(t, path, c.maxPending, c.maxAge)
			var all []metering.Record
			for call := range 12 {
				var rs []metering.Record
				for i := range 7 {
					rs = append(rs, hourRec(call*7+i, (call*7+i)%3))
				}
				rs = append(rs, anyHourRec(call))
				// The same key twice in one call: the second answers the first.
				twice := rs[0]
				twice.ID = "twice"
				want := append(ids(rs), rs[0].ID)
				putExpect(t, db, append(rs, twice), want)
				all = append(all, rs...)
				// Every record so far, again.
				putExpect(t, db, retried(all), ids(all))
			}
			keys, rows := countKeys(t, db)
			if rows != len(all) {
				t.Errorf("%d rows, want %d", rows, len(all))
			}
			switch c.name {
			case "never":
				if keys != 12 { // the AgentCore keys alone
					t.Errorf("%d keys indexed without a catch-up, want the 12 AgentCore ones", keys)
				}
			case "always":
				if keys != rows {
					t.Errorf("%d keys indexed, want all %d", keys, rows)
				}
			}
			checkKeys(t, path)
		})
	}
}

// TestKeysAfterRestart checks that keys still pending at Close, as after a
// crash, are found after Open: the first group commit indexes the rows
// above their marks before it looks up a key.
func TestKeysAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := openKeys(t, path, 1<<30, never)
	var rs []metering.Record
	for i := range 40 {
		rs = append(rs, hourRec(i, i%4))
	}
	putExpect(t, db, rs[:20], ids(rs[:20]))
	db.keys.maxAge = 0 // a catch-up before the next group commit
	putExpect(t, db, rs[20:30], ids(rs[20:30]))
	db.keys.maxAge = never
	putExpect(t, db, rs[30:], ids(rs[30:]))
	if keys, _ := countKeys(t, db); keys != 20 {
		t.Fatalf("%d keys indexed before Close, want the 20 of the first call", keys)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, path)

	db = openKeys(t, path, 0, 0)
	putExpect(t, db, retried(rs), ids(rs))
	putExpect(t, db, []metering.Record{hourRec(100, 0)}, []string{hourRec(100, 0).ID})
	if keys, rows := countKeys(t, db); keys != 40 || rows != 41 {
		t.Errorf("after two group commits: %d keys, %d rows; want the 40 rows from before indexed and the new one pending", keys, rows)
	}
	checkKeys(t, path)
}

// TestKeysTwoWriters checks two stores on one file, as two processes
// would be: each finds the keys the other committed and still holds in
// memory, since another connection's commit changes data_version.
func TestKeysTwoWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	a, b := openKeys(t, path, 1<<30, never), openKeys(t, path, 1<<30, never)
	first := []metering.Record{hourRec(1, 0), hourRec(2, 1)}
	putExpect(t, a, first, ids(first))
	putExpect(t, b, retried(first), ids(first))
	second := []metering.Record{hourRec(3, 0), hourRec(4, 2)}
	putExpect(t, b, second, ids(second))
	putExpect(t, a, retried(second), ids(second))
	putExpect(t, a, retried(first), ids(first))
	if _, rows := countKeys(t, a); rows != 4 {
		t.Errorf("%d rows, want 4", rows)
	}
	checkKeys(t, path)
}

// TestKeysWipe checks that a wiped key, pending in memory or indexed,
// takes a new record, and that the new record's key then holds.
func TestKeysWipe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := openKeys(t, path, 1<<30, never)
	indexed, pending := hourRec(1, 0), hourRec(2, 0)
	db.keys.maxAge = 0
	putExpect(t, db, []metering.Record{indexed}, []string{indexed.ID})
	putExpect(t, db, []metering.Record{hourRec(3, 5)}, []string{hourRec(3, 5).ID}) // indexes the first
	db.keys.maxAge = never
	putExpect(t, db, []metering.Record{pending}, []string{pending.ID})
	if n, err := db.WipeUsage(t.Context()); err != nil || n != 3 {
		t.Fatalf("WipeUsage = %d, %v; want 3", n, err)
	}
	again := retried([]metering.Record{indexed, pending})
	putExpect(t, db, again, ids(again))
	putExpect(t, db, retried(again), ids(again))
	checkKeys(t, path)
}

// TestKeysRollback checks that a call failing alone leaves no key behind:
// its records' keys take new records later, and the hour it opened keeps
// a mark for the calls that committed.
func TestKeysRollback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := openKeys(t, path, 1<<30, never)
	bad := hourRec(99, 7)
	errBoom := errors.New("boom")
	db.hooks.insert = func(r metering.Record) error {
		if r.Key == bad.Key && r.ID == bad.ID {
			return errBoom
		}
		return nil
	}
	g := newGate(db)
	blocker := goPut(t.Context(), db, []metering.Record{hourRec(0, 0)})
	g.held(t)
	failing := goPut(t.Context(), db, []metering.Record{hourRec(1, 7), bad})
	waitQueued(t, db, 1)
	ok := goPut(t.Context(), db, []metering.Record{hourRec(2, 7), hourRec(3, 8)})
	waitQueued(t, db, 2)
	g.release()
	if r := <-blocker; r.err != nil {
		t.Fatal(r.err)
	}
	if r := <-failing; !errors.Is(r.err, errBoom) {
		t.Fatalf("failing call: %v, want %v", r.err, errBoom)
	}
	if r := <-ok; r.err != nil {
		t.Fatal(r.err)
	}
	checkKeys(t, path)
	retry := retried([]metering.Record{hourRec(1, 7), bad})
	putExpect(t, db, retry, ids(retry))
	putExpect(t, db, retried([]metering.Record{hourRec(2, 7)}), []string{hourRec(2, 7).ID})
	db.keys.maxAge = 0
	putExpect(t, db, []metering.Record{hourRec(4, 9)}, []string{hourRec(4, 9).ID})
	if keys, rows := countKeys(t, db); keys != 5 || rows != 6 {
		t.Errorf("%d keys and %d rows, want 5 indexed of 6", keys, rows)
	}
	checkKeys(t, path)
}

// TestKeysKill kills a process that stores hourly records with frequent
// catch-ups, again and again, and checks after each start that every
// acknowledged key still answers its first record: keys pending in memory
// at the kill are found through the rows above their marks.
func TestKeysKill(t *testing.T) {
	if os.Getenv("METERD_KEYS_CHILD") != "" {
		t.Skip("the child runs keysChild")
	}
	path := filepath.Join(t.TempDir(), "meterd.db")
	first := map[int]string{} // customer -> ID of its key's record
	for round := range 8 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKeysKillChild$")
		cmd.Env = append(os.Environ(), "METERD_KEYS_CHILD="+path, fmt.Sprint("METERD_KEYS_ROUND=", round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(time.Duration(150+rand.IntN(250))*time.Millisecond, func() { cmd.Process.Signal(syscall.SIGKILL) })
		sc := bufio.NewScanner(out)
		acks := 0
		for sc.Scan() {
			var n int
			var id string
			if _, err := fmt.Sscan(sc.Text(), &n, &id); err != nil {
				continue // go test's own output
			}
			acks++
			if want, ok := first[n]; !ok {
				first[n] = id
			} else if id != want {
				t.Fatalf("round %d: customer %d answered %s, first acknowledged as %s", round, n, id, want)
			}
		}
		cmd.Wait()
		if acks == 0 {
			t.Fatalf("round %d: nothing acknowledged before the kill", round)
		}
	}
	checkKeys(t, path)
	db := openKeys(t, path, 0, 0)
	var rs []metering.Record
	var want []string
	for n, id := range first {
		r := hourRec(n, n%6)
		r.ID = "after-the-kills"
		rs, want = append(rs, r), append(want, id)
	}
	putExpect(t, db, rs, want)
	// A call committed as the kill came is stored without an answer: at
	// most one call of 5 records a kill.
	if _, rows := countKeys(t, db); rows < len(first) || rows > len(first)+8*5 {
		t.Errorf("%d rows, want one per acknowledged key (%d) and at most 40 unacknowledged", rows, len(first))
	}
	t.Logf("8 kills: %d keys acknowledged", len(first))
}

// TestKeysKillChild is TestKeysKill's child: it stores records of random
// customers, five a call, printing "customer ID" for each answer.
func TestKeysKillChild(t *testing.T) {
	path := os.Getenv("METERD_KEYS_CHILD")
	if path == "" {
		t.Skip("run by TestKeysKill")
	}
	db, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.keys.maxPending, db.keys.maxAge = 200, 20*time.Millisecond
	round := os.Getenv("METERD_KEYS_ROUND")
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		rs := make([]metering.Record, 5)
		for j := range rs {
			n := rand.IntN(20000)
			rs[j] = hourRec(n, n%6)
			rs[j].ID = fmt.Sprintf("r%s-%d-%d", round, i, j)
		}
		out, err := db.PutRecords(context.Background(), rs)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range out {
			n, _ := strconv.Atoi(strings.TrimPrefix(rs[j].CustomerAccountID, "customer-"))
			fmt.Fprintln(w, n, r.ID)
		}
		w.Flush()
	}
}

// TestKeyIndexMigration checks migration 00033 both ways on stored
// records: down, the unique index on the rows comes back; up, every key
// moves into usage_keys and every hour gets its mark.
func TestKeyIndexMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := openKeys(t, path, 0, 0)
	var rs []metering.Record
	for i := range 30 {
		rs = append(rs, hourRec(i, i%5))
	}
	rs = append(rs, anyHourRec(1), anyHourRec(2))
	putExpect(t, db, rs, ids(rs))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	raw, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newProvider(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(t.Context(), 32); err != nil {
		t.Fatal(err)
	}
	var index string
	if err := raw.QueryRow(`SELECT sql FROM sqlite_master WHERE name = 'usage_rows_key'`).Scan(&index); err != nil || !strings.Contains(index, "UNIQUE") {
		t.Errorf("after down: usage_rows_key is %q, %v", index, err)
	}
	raw.Close()

	db = openKeys(t, path, 0, 0)
	if keys, rows := countKeys(t, db); keys != len(rs) || rows != len(rs) {
		t.Errorf("after up: %d keys, %d rows; want %d of each", keys, rows, len(rs))
	}
	checkKeys(t, path)
	putExpect(t, db, retried(rs), ids(rs))
}

// TestKeyFilters checks that a key of an hour the committer saw empty is
// not looked up in usage_keys, and that every key that exists is still
// found: pending, indexed, after a restart, and written by another store
// on the same file while this one had a filter for its hour.
func TestKeyFilters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := openKeys(t, path, 1<<30, never)
	lookups := func(want int, what string) {
		t.Helper()
		if got := db.filters.lookups; got != want {
			t.Errorf("%s: %d keys looked up in usage_keys, want %d", what, got, want)
		}
		db.filters.lookups = 0
	}
	var rs []metering.Record
	for i := range 50 {
		rs = append(rs, hourRec(i, i%2))
	}
	putExpect(t, db, rs, ids(rs))
	lookups(0, "new keys of empty hours")
	putExpect(t, db, retried(rs), ids(rs))
	lookups(0, "pending keys")
	db.keys.maxAge = 0
	putExpect(t, db, []metering.Record{hourRec(100, 0)}, []string{hourRec(100, 0).ID}) // indexes the 50
	db.keys.maxAge = never
	lookups(0, "a new key after a catch-up")
	putExpect(t, db, retried(rs), ids(rs))
	lookups(len(rs), "indexed keys, which their filters hold")

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openKeys(t, path, 1<<30, never)
	putExpect(t, db, retried(rs), ids(rs))
	putExpect(t, db, []metering.Record{hourRec(101, 0), hourRec(102, 1)}, []string{hourRec(101, 0).ID, hourRec(102, 1).ID})
	lookups(len(rs)+2, "hours with keys before Open")
	putExpect(t, db, []metering.Record{hourRec(103, 9)}, []string{hourRec(103, 9).ID})
	lookups(0, "a new key of an empty hour after Open")

	// Another store writes into hour 9, which db has a filter for.
	other := openKeys(t, path, 1<<30, never)
	theirs := []metering.Record{hourRec(104, 9)}
	putExpect(t, other, theirs, ids(theirs))
	putExpect(t, db, retried(theirs), ids(theirs))
	if _, rows := countKeys(t, db); rows != len(rs)+5 {
		t.Errorf("%d rows, want %d", rows, len(rs)+5)
	}
	checkKeys(t, path)
}
