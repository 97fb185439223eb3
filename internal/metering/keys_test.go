package metering

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestKeys(t *testing.T) {
	ts := time.Date(2026, 3, 1, 19, 15, 30, 0, time.FixedZone("plus9", 9*3600))
	hour := ts.UTC().Truncate(time.Hour)
	k := HourKey(ts, "bm-product", "prod", "111111111111", "users")
	if len(k) != KeySize {
		t.Fatalf("key is %d bytes, want %d", len(k), KeySize)
	}
	if got, ok := KeyHour(k); !ok || !got.Equal(hour) {
		t.Errorf("KeyHour = %v, %v; want %v", got, ok, hour)
	}
	if k2 := HourKey(ts.Add(40*time.Minute), "bm-product", "prod", "111111111111", "users"); k2 != k {
		t.Error("two times in one hour gave different keys")
	}
	if k2 := HourKey(ts.Add(time.Hour), "bm-product", "prod", "111111111111", "users"); k2 == k || k2 < k {
		t.Error("the next hour's key does not sort after this hour's")
	}
	// Keys of one hour sort before every key of the next, whatever their
	// other parts: inserts are time-ordered.
	if next := HourKey(ts.Add(time.Hour), "bm-product", "a", "000000000000", "a"); !(k < next) {
		t.Error("keys do not lead with the hour")
	}
	for _, other := range []string{
		HourKey(ts, "bm-product", "prod", "111111111112", "users"),
		HourKey(ts, "bm-license", "prod", "111111111111", "users"),
		HourKey(ts, "bm-product", "prod", "111111111111users"),
	} {
		if other == k {
			t.Error("different parts gave the same key")
		}
	}
	tok := AnyHourKey("mu-token", "i-1", "prod", "token-1")
	if _, ok := KeyHour(tok); ok || !bytes.Equal([]byte(tok[:4]), []byte{0, 0, 0, 0}) {
		t.Errorf("token key %x has an hour", tok)
	}
}

// TestLegacyKey checks that a key in the text format of earlier meterd
// versions converts to the key the Service makes now for the same record.
func TestLegacyKey(t *testing.T) {
	ts := time.Date(2026, 3, 1, 19, 15, 30, 0, time.UTC)
	secs := strconv.FormatInt(ts.Truncate(time.Hour).Unix(), 10)
	join := func(parts ...string) string {
		var b []byte
		for i, p := range parts {
			if i > 0 {
				b = append(b, keySep)
			}
			b = append(b, p...)
		}
		return string(b)
	}
	tests := []struct {
		old, want string
	}{
		{join("bm-product", "prod", "111111111111", "users", secs), HourKey(ts, "bm-product", "prod", "111111111111", "users")},
		{join("bm-license", "arn:aws:license-manager::1:license:l-1", "users", secs), HourKey(ts, "bm-license", "arn:aws:license-manager::1:license:l-1", "users")},
		{join("mu-hour", "i-1", "prod", "hosts", secs), HourKey(ts, "mu-hour", "i-1", "prod", "hosts")},
		{join("mu-token", "agent-1", "prod", "a\x1ftoken"), AnyHourKey("mu-token", "agent-1", "prod", "a\x1ftoken")},
	}
	for _, tt := range tests {
		got, ok := LegacyKey(tt.old)
		if !ok || got != tt.want {
			t.Errorf("LegacyKey(%q) = %x, %v; want %x", tt.old, got, ok, tt.want)
		}
		if _, ok := LegacyKey(got); ok {
			t.Errorf("LegacyKey converted the already converted %x", got)
		}
	}
	for _, bad := range []string{"", "k1", join("bm-product", "prod", "1", "users", "x"), join("bm-product", "prod", "1", "users", "100")} {
		if got, ok := LegacyKey(bad); ok {
			t.Errorf("LegacyKey(%q) = %x, true; want false", bad, got)
		}
	}
}

func TestRecordID(t *testing.T) {
	uuidForm := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]string{}
	for i := range 1000 {
		key := HourKey(time.Unix(int64(i)*3600, 0), "bm-product", "p", "111111111111", "d")
		if i%2 == 1 {
			key = AnyHourKey("mu-token", "r", "p", strconv.Itoa(i))
		}
		id := RecordID(key)
		if strings.HasPrefix(id, "00000000") {
			t.Errorf("RecordID = %q starts with zeros", id)
		}
		if !uuidForm.MatchString(id) {
			t.Fatalf("RecordID = %q, not a version 8 UUID", id)
		}
		if RecordID(key) != id {
			t.Fatal("RecordID is not a function of the key")
		}
		if other, ok := seen[id]; ok {
			t.Fatalf("keys %x and %x share id %s", other, key, id)
		}
		seen[id] = key
	}
}
