package sqlite

import (
	"strconv"
	"strings"
	"testing"
)

// newestMigration is the highest version among migration files: versions
// may have gaps (00010 follows 00003 so that parallel work can number its
// migrations without colliding), so it is not their count.
func newestMigration(t *testing.T, files []string) int64 {
	t.Helper()
	var newest int64
	for _, f := range files {
		v, err := strconv.ParseInt(f[:strings.IndexByte(f, '_')], 10, 64)
		if err != nil {
			t.Fatalf("migration %s has no version prefix: %v", f, err)
		}
		newest = max(newest, v)
	}
	return newest
}

// newestGoMigration is the highest version among the Go migrations.
func newestGoMigration() int64 {
	var newest int64
	for _, m := range goMigrations() {
		newest = max(newest, m.Version)
	}
	return newest
}
