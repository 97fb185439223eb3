package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketsAreContiguousAndPrecise(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	values := []uint64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1<<20 - 1, 1 << 20, 1<<63 - 1, 1 << 63, 1<<64 - 1}
	for range 10000 {
		values = append(values, rng.Uint64()>>rng.IntN(64))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d, outside [0, %d)", v, i, numBuckets)
		}
		if hi := bucketMax(i); hi < v {
			t.Fatalf("bucketMax(bucketOf(%d)) = %d, below the value", v, hi)
		}
		if i > 0 && bucketMax(i-1) >= v {
			t.Fatalf("bucket %d below %d's bucket already reaches %d", i-1, v, bucketMax(i-1))
		}
		if v < 2*subBuckets && bucketMax(i) != v {
			t.Fatalf("small value %d not exact: bucket max %d", v, bucketMax(i))
		}
		if lo := bucketMax(i-1) + 1; i > 0 && float64(bucketMax(i)-lo) > float64(lo)/subBuckets {
			t.Fatalf("bucket %d spans [%d, %d]: wider than 1/%d", i, lo, bucketMax(i), subBuckets)
		}
	}
}

func TestPercentileNearestRank(t *testing.T) {
	h := NewHistogram()
	for v := 1; v <= 10; v++ {
		h.Record(time.Duration(v))
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{0, 1}, {10, 1}, {11, 2}, {50, 5}, {90, 9}, {99, 10}, {100, 10}, {-5, 1}, {150, 10},
	}
	for _, tt := range tests {
		if got := h.Percentile(tt.p); got != tt.want {
			t.Errorf("p%g = %d, want %d", tt.p, got, tt.want)
		}
	}
	if h.Count() != 10 || h.Min() != 1 || h.Max() != 10 {
		t.Errorf("count %d min %d max %d, want 10 1 10", h.Count(), h.Min(), h.Max())
	}
	if h.Mean() != 5 { // 5.5 truncated
		t.Errorf("mean %d, want 5", h.Mean())
	}
}

// TestPercentileAgainstSortedSample checks large values against the exact
// nearest-rank percentile of a sorted copy: within the 1/128 precision,
// never below the exact value, never above the maximum.
func TestPercentileAgainstSortedSample(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	h := NewHistogram()
	var sample []time.Duration
	for range 100000 {
		// Log-normal-ish latencies from 50µs to seconds.
		d := time.Duration(50e3 * (1 + rng.ExpFloat64()*rng.ExpFloat64()*20))
		sample = append(sample, d)
		h.Record(d)
	}
	slices.Sort(sample)
	for _, p := range []float64{1, 50, 90, 99, 99.9, 99.99, 100} {
		rank := int(float64(len(sample))*p/100+0.999999) - 1
		exact := sample[max(rank, 0)]
		got := h.Percentile(p)
		if got < exact || float64(got-exact) > float64(exact)/subBuckets {
			t.Errorf("p%g = %v, exact %v: off by more than 1/%d", p, got, exact, subBuckets)
		}
	}
	if h.Max() != sample[len(sample)-1] || h.Min() != sample[0] {
		t.Errorf("min/max %v/%v, want %v/%v", h.Min(), h.Max(), sample[0], sample[len(sample)-1])
	}
}

func TestMergeEqualsRecordingTogether(t *testing.T) {
	all, a, b := NewHistogram(), NewHistogram(), NewHistogram()
	for v := range 5000 {
		d := time.Duration(v*v) * time.Nanosecond
		all.Record(d)
		if v%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(b)
	a.Merge(NewHistogram())
	for _, p := range []float64{0, 25, 50, 99, 99.9, 100} {
		if a.Percentile(p) != all.Percentile(p) {
			t.Errorf("p%g merged %v, together %v", p, a.Percentile(p), all.Percentile(p))
		}
	}
	if a.Count() != all.Count() || a.Min() != all.Min() || a.Max() != all.Max() || a.Mean() != all.Mean() {
		t.Errorf("merged %d/%v/%v/%v, together %d/%v/%v/%v", a.Count(), a.Min(), a.Max(), a.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
}

func TestEmptyHistogram(t *testing.T) {
	h := NewHistogram()
	if h.Percentile(50) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Error("empty histogram reports non-zero values")
	}
	h.Record(-time.Second)
	if h.Max() != 0 || h.Count() != 1 {
		t.Errorf("negative duration: max %v count %d, want 0 1", h.Max(), h.Count())
	}
}
