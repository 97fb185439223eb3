package e2e

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	_ "github.com/mattn/go-sqlite3"

	"github.com/meterd/meterd/internal/pgtest"
)

type sent struct {
	token    string
	quantity int32
	ts       time.Time
}

// TestCrashSafety SIGKILLs meterd under load 20 times, on SQLite and on
// PostgreSQL. Every acknowledged record must be stored exactly once, every
// retried request must get its original MeteringRecordId, and the database
// must pass an integrity check.
func TestCrashSafety(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "meterd.db")
		crashTest(t, db, func() (map[string]int, string) {
			conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var check string
			if err := conn.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil {
				t.Fatal(err)
			}
			stored := map[string]int{}
			rows, err := conn.Query(`SELECT id FROM usage_records`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				rows.Scan(&id)
				stored[id]++
			}
			return stored, check
		})
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		dsn := pgtest.NewDatabase(t)
		crashTest(t, dsn, func() (map[string]int, string) {
			// amcheck verifies the B-tree indexes, the unique key above all.
			pgQuery(t, dsn, `CREATE EXTENSION IF NOT EXISTS amcheck`)
			pgQuery(t, dsn, `SELECT bt_index_check(indexrelid, true) FROM pg_index WHERE indrelid = 'usage_records'::regclass`)
			stored := map[string]int{}
			for _, r := range pgQuery(t, dsn, `SELECT id::text FROM usage_records`) {
				stored[r[0]]++
			}
			return stored, "ok"
		})
	})
}

// crashTest runs the kill loop on db; stored reads back every stored id
// and the integrity check's verdict.
func crashTest(t *testing.T, db string, stored func() (map[string]int, string)) {
	acked := map[string]string{} // ClientToken -> MeteringRecordId
	requests := map[string]sent{}
	var unknown []sent
	var mu sync.Mutex
	const kills = 20
	bin := meterdBinary(t)
	kill := func(p *process) {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
	}
	for round := 0; round < kills; round++ {
		p := startProcess(t, bin, db)
		client := p.client(agentKey)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					req := sent{token: fmt.Sprintf("r%d-w%d-%d", round, w, i), quantity: int32(rand.IntN(100)), ts: time.Now()}
					out, err := client.MeterUsage(ctx, &mm.MeterUsageInput{
						ProductCode: aws.String("ami-1"), UsageDimension: aws.String("hours"), Timestamp: aws.Time(req.ts),
						UsageQuantity: aws.Int32(req.quantity), ClientToken: aws.String(req.token),
					})
					mu.Lock()
					requests[req.token] = req
					if err == nil {
						acked[req.token] = aws.ToString(out.MeteringRecordId)
					} else {
						unknown = append(unknown, req)
					}
					mu.Unlock()
					if err != nil {
						return // the process is gone
					}
				}
			}()
		}
		time.Sleep(time.Duration(50+rand.IntN(150)) * time.Millisecond)
		kill(p)
		close(stop)
		wg.Wait()
	}
	if len(acked) < kills*10 {
		t.Fatalf("only %d acknowledged requests: the load did not run", len(acked))
	}

	// Retries after the last crash get the original ids (a sample: each
	// retry is a full request).
	p := startProcess(t, bin, db)
	client := p.client(agentKey)
	sample := 0
	for token, id := range acked {
		if sample++; sample > 300 {
			break
		}
		r := requests[token]
		out, err := client.MeterUsage(ctx, &mm.MeterUsageInput{
			ProductCode: aws.String("ami-1"), UsageDimension: aws.String("hours"), Timestamp: aws.Time(r.ts),
			UsageQuantity: aws.Int32(r.quantity), ClientToken: aws.String(token),
		})
		if err != nil {
			t.Fatalf("retry of %s: %v", token, err)
		}
		if got := aws.ToString(out.MeteringRecordId); got != id {
			t.Fatalf("retry of %s got %s, want the original %s", token, got, id)
		}
	}
	// Requests whose answer was lost retry to exactly one record too.
	retried := map[string]string{}
	for _, r := range unknown {
		out, err := client.MeterUsage(ctx, &mm.MeterUsageInput{
			ProductCode: aws.String("ami-1"), UsageDimension: aws.String("hours"), Timestamp: aws.Time(r.ts),
			UsageQuantity: aws.Int32(r.quantity), ClientToken: aws.String(r.token),
		})
		if err != nil {
			t.Fatalf("retry of unacknowledged %s: %v", r.token, err)
		}
		retried[r.token] = aws.ToString(out.MeteringRecordId)
	}
	kill(p)

	ids, check := stored()
	if check != "ok" {
		t.Fatalf("integrity check: %q", check)
	}
	total := 0
	for _, n := range ids {
		total += n
	}
	for token, id := range acked {
		if n := ids[id]; n != 1 {
			t.Fatalf("acknowledged record %s (%s) stored %d times", id, token, n)
		}
	}
	if want := len(acked) + len(retried); total != want {
		t.Fatalf("%d records stored, want %d (acknowledged %d + retried %d)", total, want, len(acked), len(retried))
	}
	t.Logf("%d kills: %d acknowledged, %d lost answers retried, %d records, integrity ok", kills, len(acked), len(unknown), total)
}
