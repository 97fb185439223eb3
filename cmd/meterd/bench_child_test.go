package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestBannerEndpoint(t *testing.T) {
	tests := []struct {
		line string
		want string
		ok   bool
	}{
		{"meterd dev-0123456789ab listening on http://127.0.0.1:41234 (region us-east-1, database meterd.db)", "http://127.0.0.1:41234", true},
		{"meterd dev listening on http://[::1]:8080 (region us-east-1, database x)", "http://[::1]:8080", true},
		{"Admin API token, generated at first start (shown only now; meterd keeps only its hash):", "", false},
		{"something listening on http://127.0.0.1:1 (x)", "", false},
		{"meterd dev listening on 127.0.0.1:1 (x)", "", false},
	}
	for _, tt := range tests {
		got, ok := bannerEndpoint(tt.line)
		if got != tt.want || ok != tt.ok {
			t.Errorf("bannerEndpoint(%q) = %q, %v; want %q, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseProcStatus(t *testing.T) {
	status := "Name:\tmeterd\nVmPeak:\t 1351324 kB\nVmSize:\t 1285788 kB\nVmHWM:\t   69312 kB\nVmRSS:\t   66284 kB\nThreads:\t9\n"
	got, err := parseProcStatus(status)
	if want := (procMemory{rss: 66284 << 10, hwm: 69312 << 10}); err != nil || got != want {
		t.Errorf("parseProcStatus = %+v, %v; want %+v", got, err, want)
	}
	if _, err := parseProcStatus("Name:\tmeterd\nState:\tZ (zombie)\n"); err == nil {
		t.Error("a status without VmRSS parsed")
	}
	if _, err := parseProcStatus("VmRSS:\t 12 MB\nVmHWM:\t 12 kB\n"); err == nil {
		t.Error("a status in MB parsed")
	}
}

func TestParseProcStatCPU(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := "4242 (meterd (x) y) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 9 0 100 1285788000 16571 18446744073709551615"
	if got, want := parseProcStatCPU(stat), 3*time.Second; got != want {
		t.Errorf("parseProcStatCPU = %s, want %s (300 ticks)", got, want)
	}
	if got := parseProcStatCPU("4242 (meterd) S 1 2"); got != -1 {
		t.Errorf("parseProcStatCPU of a short line = %s, want -1", got)
	}
}

func TestDataFiles(t *testing.T) {
	dir := t.TempDir()
	for name, size := range map[string]int{
		"meterd.db": 100, "meterd.db-wal": 20, "meterd.db-shm": 3, "meterd-audit.db": 50, "meterd-audit.db-wal": 5,
		"meterd.db.stderr": 7, "state.yaml": 9, "other.db": 11,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, size), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "meterd-dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := dataFiles(filepath.Join(dir, "meterd.db"))
	want := map[string]int64{"meterd.db": 100, "meterd.db-wal": 20, "meterd.db-shm": 3, "meterd-audit.db": 50, "meterd-audit.db-wal": 5}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("dataFiles = %v, %v; want %v", got, err, want)
	}
}
