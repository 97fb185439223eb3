package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the serving goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestDemoBannerCommandWorks is the README's promise: `meterd serve` on an
// empty database prints an AWS CLI command that succeeds as pasted, and
// `meterd usage` then lists the record.
func TestDemoBannerCommandWorks(t *testing.T) {
	aws, err := exec.LookPath("aws")
	if err != nil {
		t.Fatal("the AWS CLI (aws) is not installed; .ci/run installs it")
	}
	db := filepath.Join(t.TempDir(), "meterd.db")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--database", db}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d: %s", code, stderr.String())
		}
	}()

	var banner string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if banner = stdout.String(); strings.Contains(banner, "Then list what was recorded") {
			break
		}
	}
	_, block, ok := strings.Cut(banner, "Meter SaaS usage with the AWS CLI:\n")
	if !ok {
		t.Fatalf("no AWS CLI command in the banner:\n%s\n%s", banner, stderr.String())
	}
	command, _, _ := strings.Cut(strings.TrimLeft(block, "\n"), "\n\n")
	command = strings.Replace(command, "aws meteringmarketplace", aws+" meteringmarketplace", 1)
	cmd := exec.Command("bash", "-c", command)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("printed command failed: %v\n%s\n%s", err, command, out)
	}
	if !strings.Contains(string(out), `"Status": "Success"`) {
		t.Fatalf("printed command did not meter: %s", out)
	}

	var listed bytes.Buffer
	if code := run(context.Background(), []string{"usage", "--database", db, "--json"}, &listed, &stderr); code != 0 {
		t.Fatalf("usage exited %d: %s", code, stderr.String())
	}
	var rows []struct {
		ProductCode string `json:"product_code"`
		Quantity    int64  `json:"quantity"`
	}
	if err := json.Unmarshal(listed.Bytes(), &rows); err != nil || len(rows) != 1 || rows[0].ProductCode != "demo-saas" || rows[0].Quantity != 3 {
		t.Fatalf("usage listed %s (%v)", listed.String(), err)
	}
}
