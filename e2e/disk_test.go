package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	_ "github.com/mattn/go-sqlite3"

	"github.com/meterd/meterd/internal/app"
	"github.com/meterd/meterd/internal/sqlite"
)

// A full disk and a read-only database, simulated for real: the database
// lives on a small tmpfs (mount -t tmpfs -o size=…, which needs root) that
// the test fills with a file, and on a read-only bind mount of its
// directory. Without root the tests skip; CI runs as root.

// mountOrSkip runs mount with args, or skips the test when it cannot.
func mountOrSkip(t *testing.T, dir string, args ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs or a read-only bind mount")
	}
	out, err := exec.Command("mount", append(args, dir)...).CombinedOutput()
	if err != nil {
		t.Skipf("mount %v %s: %v: %s", args, dir, err, out)
	}
	t.Cleanup(func() {
		// Bounded: a mount still busy is left to the test's temp-dir removal
		// to report.
		for i := 0; i < 50; i++ {
			if exec.Command("umount", dir).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("umount %s failed", dir)
	})
}

// sqliteCheck opens the database read-only and returns how often each
// MeteringRecordId is stored, after PRAGMA integrity_check.
func sqliteCheck(t *testing.T, db string) map[string]int {
	t.Helper()
	conn, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var check string
	if err := conn.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check: %q %v", check, err)
	}
	rows, err := conn.Query(`SELECT id FROM usage_records`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[id]++
	}
	return ids
}

// diskMeter is a MeterUsage call on the AgentCore key (one record per
// ClientToken) whose allocation tags make the record take room, about
// 1.3 kB.
func diskMeter(token string) *mm.MeterUsageInput {
	in := agentMeter(token, time.Now())
	pad := strings.Repeat("x", 250)
	var tags []types.Tag
	for i := 0; i < 5; i++ {
		tags = append(tags, types.Tag{Key: aws.String(fmt.Sprintf("pad%d", i)), Value: aws.String(pad)})
	}
	in.UsageAllocations = []types.UsageAllocation{{AllocatedUsageQuantity: aws.Int32(1), Tags: tags}}
	return in
}

// TestDiskFull fills the file system under a running meterd: calls that
// need to write answer InternalServiceErrorException at once, nothing is
// half-stored, and once space returns the same calls succeed without a
// restart.
func TestDiskFull(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	mountOrSkip(t, dir, "-t", "tmpfs", "-o", "size=3m", "tmpfs")
	db := filepath.Join(dir, "meterd.db")
	s := startWith(t, func(c *app.Config) { c.Database = db })
	buyer := s.client(agentKey)
	acked := map[string]bool{}
	meter := func(in *mm.MeterUsageInput) error {
		out, err := buyer.MeterUsage(ctx, in)
		if err == nil {
			acked[aws.ToString(out.MeteringRecordId)] = true
		}
		return err
	}
	for i := 0; i < 20; i++ {
		if err := meter(diskMeter(fmt.Sprintf("before-%d", i))); err != nil {
			t.Fatalf("before the disk fills: %v", err)
		}
	}

	// Fill the file system.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for i := 0; i < 1000; i++ { // 64 MB at most, far more than the tmpfs
		if _, err = filler.Write(chunk); err != nil {
			break
		}
	}
	filler.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v, want ENOSPC", err)
	}

	// Calls answer InternalServiceErrorException, at once, until the WAL
	// needs room it cannot get; a few may still fit in the WAL's space.
	var failed []*mm.MeterUsageInput
	for i := 0; i < 2000 && len(failed) < 5; i++ {
		in := diskMeter(fmt.Sprintf("full-%d", i))
		start := time.Now()
		err := meter(in)
		if err == nil {
			continue
		}
		wantType[*types.InternalServiceErrorException](t, err)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("a call on a full disk took %v", d)
		}
		failed = append(failed, in)
	}
	if len(failed) == 0 {
		t.Fatal("no call failed on the full disk")
	}
	// Reads still answer.
	if _, err := s.client(sellerKey).ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg+token/legacy==")}); err != nil {
		t.Errorf("ResolveCustomer on a full disk: %v", err)
	}

	// Space returns: the failed calls, sent again, are stored.
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	for _, in := range failed {
		if err := meter(in); err != nil {
			t.Fatalf("after space returned, %s: %v", aws.ToString(in.ClientToken), err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	stored := sqliteCheck(t, db)
	for id := range acked {
		if stored[id] != 1 {
			t.Errorf("acknowledged record %s stored %d times", id, stored[id])
		}
	}
	if len(stored) != len(acked) {
		t.Errorf("%d records stored, %d acknowledged: a failed call left records behind", len(stored), len(acked))
	}
	t.Logf("tmpfs 3m: %d calls failed with InternalServiceErrorException on the full disk, all stored after space returned; %d records, integrity ok", len(failed), len(stored))
}

// TestReadOnlyDatabase starts meterd on a database whose directory is
// mounted read-only (a crashed meterd left its WAL there, so SQLite opens
// it read-only): reads answer, writes answer InternalServiceErrorException,
// and on writable storage again nothing is lost or corrupt.
func TestReadOnlyDatabase(t *testing.T) {
	base := t.TempDir()
	rw, ro := filepath.Join(base, "rw"), filepath.Join(base, "ro")
	for _, d := range []string{rw, ro} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(rw, "meterd.db")
	const token = "disk-test-admin-token"
	s := startWith(t, func(c *app.Config) { c.Database, c.AdminToken = db, token })
	firstIn := diskMeter("ro-first")
	first, err := s.client(agentKey).MeterUsage(ctx, firstIn)
	if err != nil {
		t.Fatal(err)
	}
	// Keep a connection open to the database and to its audit log across
	// the close, as a crash would leave their WALs and indexes behind.
	var holds []*sql.DB
	for _, path := range []string{db, sqlite.AuditPath(db)} {
		hold, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer hold.Close()
		if err := hold.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		holds = append(holds, hold)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	mountOrSkip(t, ro, "--bind", rw)
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", ro).CombinedOutput(); err != nil {
		t.Skipf("remount read-only: %v: %s", err, out)
	}
	roDB := filepath.Join(ro, "meterd.db")
	a, err := app.Open(context.Background(), app.Config{Listen: "127.0.0.1:0", Database: roDB, AdminToken: token, Clock: &testClock{}})
	if err != nil {
		// Refusing to start is a clean answer too; it must say why.
		if !strings.Contains(err.Error(), roDB) && !strings.Contains(err.Error(), sqlite.AuditPath(roDB)) {
			t.Fatalf("start on a read-only database: %v (does not name the database)", err)
		}
		t.Logf("meterd refused to start on the read-only database: %v", err)
	} else {
		roServer := &server{App: a, clock: &testClock{}, db: roDB}
		seller := roServer.client(sellerKey)
		if _, err := seller.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg+token/legacy==")}); err != nil {
			t.Errorf("ResolveCustomer on a read-only database: %v", err)
		}
		for i := 0; i < 3; i++ {
			_, err := roServer.client(agentKey).MeterUsage(ctx, diskMeter(fmt.Sprintf("ro-%d", i)))
			wantType[*types.InternalServiceErrorException](t, err)
		}
		if err := a.Close(); err != nil {
			t.Logf("close on a read-only database: %v", err)
		}
		t.Log("meterd started on the read-only database: reads served, writes answered InternalServiceErrorException")
	}
	for _, hold := range holds {
		hold.Close()
	}

	// Writable again: meterd serves, with the records it acknowledged.
	s = startWith(t, func(c *app.Config) { c.Database, c.AdminToken = db, token })
	again, err := s.client(agentKey).MeterUsage(ctx, firstIn)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := aws.ToString(first.MeteringRecordId), aws.ToString(again.MeteringRecordId); a != b {
		t.Errorf("retried record: id %s, first acknowledged as %s", b, a)
	}
	if _, err := s.client(agentKey).MeterUsage(ctx, diskMeter("ro-after")); err != nil {
		t.Errorf("metering on writable storage again: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(sqliteCheck(t, db)); n != 2 {
		t.Errorf("%d records stored, want 2", n)
	}
}
