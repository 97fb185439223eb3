package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: every power of two is split into
// 1<<subBits buckets, so a recorded value is off by less than 1/128 (0.8%).
const subBits = 7

const (
	subBuckets = 1 << subBits
	// numBuckets covers every uint64: the largest value has shift
	// 64-subBits-1 and lands in the last bucket.
	numBuckets = (64 - subBits + 1) * subBuckets
)

// Histogram records durations in log-linear buckets, the scheme of
// HdrHistogram: values below 128 ns are exact, larger ones keep their top
// eight significant bits. Memory is fixed (about 58 KiB) whatever the count,
// and two histograms merge by adding buckets. The zero value is not ready:
// use NewHistogram. A Histogram is not safe for concurrent use; give each
// goroutine its own and Merge them.
type Histogram struct {
	counts   []uint64
	n        uint64
	min, max uint64
	sum      float64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, numBuckets), min: math.MaxUint64}
}

// bucketOf returns v's bucket. Buckets are contiguous and ordered by value.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift*subBuckets + int(v>>shift)
}

// bucketMax is the largest value that falls in bucket i.
func bucketMax(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	m := uint64(i - shift*subBuckets)
	return (m+1)<<shift - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Min is the smallest recorded value, exactly; 0 when empty.
func (h *Histogram) Min() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Max is the largest recorded value, exactly; 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the exact mean; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.n))
}

// Percentile returns the value at or below which p percent of the recorded
// values lie (the nearest-rank definition), reported as the upper edge of
// its bucket and never beyond the exact maximum. p is clamped to [0, 100];
// an empty histogram answers 0.
func (h *Histogram) Percentile(p float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	p = min(max(p, 0), 100)
	rank := uint64(math.Ceil(p / 100 * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketMax(i), h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
