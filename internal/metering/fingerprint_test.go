package metering

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"strconv"
	"testing"
)

// fingerprintBefore is fingerprint as it was written with fmt: the bytes
// every stored fingerprint was made from.
func fingerprintBefore(dimension, timestamp string, quantity int64, allocs []Allocation) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x1f%s\x1f%d", dimension, timestamp, quantity)
	if allocs != nil {
		sets := make([]string, len(allocs))
		for i, a := range allocs {
			sets[i] = strconv.FormatInt(a.Quantity, 10) + "\x1d" + tagSetKey(a.Tags)
		}
		sort.Strings(sets)
		for _, s := range sets {
			h.Write([]byte{0x1c})
			h.Write([]byte(s))
		}
	}
	var sum [sha256.Size]byte
	return string(h.Sum(sum[:0])[:FingerprintSize])
}

// TestFingerprintBytes pins fingerprint to the bytes stored fingerprints
// were made from: a retry of a record stored by an older meterd must
// still match it.
func TestFingerprintBytes(t *testing.T) {
	long := string(make([]byte, 300))
	for _, dim := range []string{"", "dimension-1", long} {
		for _, ts := range []string{"", "1700000000123"} {
			for _, q := range []int64{0, 7, -1, 1<<63 - 1, -1 << 63} {
				for _, allocs := range [][]Allocation{nil, {}, {{Quantity: 3, Tags: []Tag{{"k", "v"}}}, {Quantity: 4}}} {
					if got, want := fingerprint(dim, ts, q, allocs), fingerprintBefore(dim, ts, q, allocs); got != want {
						t.Errorf("fingerprint(%.10q, %q, %d, %v) = %x, want %x", dim, ts, q, allocs, got, want)
					}
				}
			}
		}
	}
}

// BenchmarkFingerprint is a BatchMeterUsage record's fingerprint (no
// dimension or timestamp, no allocations), as it is and as fmt made it.
func BenchmarkFingerprint(b *testing.B) {
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = fingerprint("", "", 42, nil)
		}
	})
	b.Run("fmt", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = fingerprintBefore("", "", 42, nil)
		}
	})
}
