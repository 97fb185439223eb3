package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeAuditDB: the audit log goes beside the database unless
// --audit-db (or $METERD_AUDIT_DB) names its file.
func TestServeAuditDB(t *testing.T) {
	serveOnce := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb syncBuffer
		done := make(chan int, 1)
		go func() { done <- run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...), &out, &errb) }()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !strings.Contains(out.String(), "listening on"); time.Sleep(20 * time.Millisecond) {
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("serve %v exited %d: %s", args, code, errb.String())
		}
	}
	exists := func(path string) bool {
		_, err := os.Stat(path)
		return err == nil
	}

	dir := t.TempDir()
	serveOnce("--database", filepath.Join(dir, "a.db"))
	if !exists(filepath.Join(dir, "a-audit.db")) {
		t.Error("serve made no a-audit.db beside a.db")
	}
	audit := filepath.Join(dir, "logs", "audit.db")
	if err := os.Mkdir(filepath.Dir(audit), 0o700); err != nil {
		t.Fatal(err)
	}
	serveOnce("--database", filepath.Join(dir, "b.db"), "--audit-db", audit)
	if !exists(audit) || exists(filepath.Join(dir, "b-audit.db")) {
		t.Errorf("with --audit-db %s: it exists %v, b-audit.db exists %v", audit, exists(audit), exists(filepath.Join(dir, "b-audit.db")))
	}
}
