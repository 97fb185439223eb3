package sqlite_test

import (
	"path/filepath"
	"testing"
)

// TestSettings checks that the first value written wins, survives a
// restart, and leaves the region setting alone.
func TestSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meterd.db")
	db := open(t, path)
	ctx := t.Context()
	if _, ok, err := db.Setting(ctx, "admin_token_sha256"); err != nil || ok {
		t.Fatalf("Setting on an empty database = %v, %v; want absent", ok, err)
	}
	if v, err := db.PutSettingIfAbsent(ctx, "admin_token_sha256", "first"); err != nil || v != "first" {
		t.Fatalf("PutSettingIfAbsent = %q, %v; want first", v, err)
	}
	if v, err := db.PutSettingIfAbsent(ctx, "admin_token_sha256", "second"); err != nil || v != "first" {
		t.Fatalf("second PutSettingIfAbsent = %q, %v; want first", v, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, path)
	defer db.Close()
	if v, ok, err := db.Setting(ctx, "admin_token_sha256"); err != nil || !ok || v != "first" {
		t.Fatalf("after reopen Setting = %q, %v, %v; want first", v, ok, err)
	}
	st, err := db.LoadState(ctx)
	if err != nil || st.Region != "" {
		t.Fatalf("LoadState region = %q, %v; settings must not leak into the state", st.Region, err)
	}
}
