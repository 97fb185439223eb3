package e2e

import (
	"database/sql"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/mattn/go-sqlite3"

	"github.com/meterd/meterd/internal/adminapi"
)

// TestSIGTERMDrains sends SIGTERM to a `meterd serve` process while calls
// are in flight (held there by injected latency) and checks that it stops
// taking new connections, answers every call in flight, commits their
// records and exits 0.
func TestSIGTERMDrains(t *testing.T) {
	const token, inFlight, latency = "sigterm-test-admin-token", 16, time.Second
	t.Setenv("METERD_ADMIN_TOKEN", token)
	bin := meterdBinary(t)
	db := filepath.Join(t.TempDir(), "meterd.db")
	p := startProcess(t, bin, db)
	if _, err := adminapi.NewClient(p.endpoint, token).AddFault(ctx, adminapi.Fault{Operation: "MeterUsage", Latency: latency.String()}); err != nil {
		t.Fatal(err)
	}

	client := p.client(agentKey)
	ids := make([]string, inFlight)
	errs := make([]error, inFlight)
	var wg sync.WaitGroup
	for i := 0; i < inFlight; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := client.MeterUsage(ctx, agentMeter(fmt.Sprintf("sigterm-%d", i), time.Now()))
			if err == nil {
				ids[i] = aws.ToString(out.MeteringRecordId)
			}
			errs[i] = err
		}()
	}
	time.Sleep(300 * time.Millisecond) // every call is in its latency now
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused while the calls in flight drain.
	time.Sleep(100 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", p.endpoint[len("http://"):], time.Second); err == nil {
		c.Close()
		t.Error("meterd accepted a new connection after SIGTERM")
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d in flight at SIGTERM: %v", i, err)
		}
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("meterd did not exit within 15 s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("meterd exited %d after SIGTERM, want 0", code)
	}
	if d := time.Since(sent); d < latency/2 {
		t.Errorf("meterd exited %v after SIGTERM, before its calls in flight could finish", d)
	}

	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var check string
	if err := conn.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check: %q %v", check, err)
	}
	for i, id := range ids {
		var n int
		if err := conn.QueryRow(`SELECT COUNT(*) FROM usage_records WHERE id = ? AND client_token = ?`, id, fmt.Sprintf("sigterm-%d", i)).Scan(&n); err != nil || n != 1 {
			t.Errorf("acknowledged record %s of call %d: stored %d times (%v)", id, i, n, err)
		}
	}
}
