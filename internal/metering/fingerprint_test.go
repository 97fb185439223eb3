package metering

import (
	"encoding/hex"
	"testing"
)

// TestFingerprintBytes pins fingerprint to the fingerprints meterd has
// always stored (computed with the fmt.Fprintf it used before): a retry of
// a record an older meterd stored must still match it.
func TestFingerprintBytes(t *testing.T) {
	for _, c := range []struct {
		dim, ts string
		q       int64
		allocs  []Allocation
		want    string
	}{
		{"", "", 0, nil, "7d4a8d99d1d29205"},
		{"", "", 42, nil, "af2c5e925b90e65c"},
		{"dimension-1", "1700000000123", 7, nil, "3079978c28476ae2"},
		{"", "", -1 << 63, []Allocation{}, "c0d50da16b1dd9ed"},
		{"d", "", 1<<63 - 1, []Allocation{{Quantity: 3, Tags: []Tag{{"k", "v"}}}, {Quantity: 4}}, "55640d72d1e14521"},
	} {
		if got := hex.EncodeToString([]byte(fingerprint(c.dim, c.ts, c.q, c.allocs))); got != c.want {
			t.Errorf("fingerprint(%q, %q, %d, %v) = %s, want %s", c.dim, c.ts, c.q, c.allocs, got, c.want)
		}
	}
}

// BenchmarkFingerprint is a BatchMeterUsage record's fingerprint (no
// dimension or timestamp, no allocations).
func BenchmarkFingerprint(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = fingerprint("", "", 42, nil)
	}
}
