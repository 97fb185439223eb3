package loadgen

import (
	"context"
	"sync"
	"time"
)

// clock is the time source of the worker loop; tests replace it with a fake
// one so that the scheduler's accounting is checked without real waiting.
type clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done.
	Sleep(ctx context.Context, d time.Duration)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// schedule hands out request slots to the workers. Slot k is the run's k-th
// request. In fixed-rate mode (interval > 0) slot k is due at
// start + k*interval whether or not a worker is free then, and the worker
// that takes it measures latency from that intended time: a slow server
// makes later requests wait, and that wait is counted, so the figures carry
// no coordinated omission. In closed-loop mode (interval 0) a slot is due
// when a worker takes it.
//
// A fixed-rate slot due before the deadline is still sent after it, for up
// to drain, so that a stall near the end is measured rather than dropped;
// what is left after that counts as missed.
type schedule struct {
	start    time.Time
	interval time.Duration // 0: closed loop
	deadline time.Time     // zero: none
	drain    time.Duration // fixed rate only
	limit    int64         // 0: none

	mu   sync.Mutex
	next int64
}

// take returns the next slot and, in fixed-rate mode, when it is due. It
// reports false once the run is over at now: the count is reached, the
// deadline (plus drain, at a fixed rate) has passed, or the next slot would
// be due at or after the deadline.
func (s *schedule) take(now time.Time) (k int64, due time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.limit > 0 && s.next >= s.limit {
		return 0, time.Time{}, false
	}
	if !s.deadline.IsZero() {
		end := s.deadline
		if s.interval > 0 {
			end = end.Add(s.drain)
		}
		if !now.Before(end) {
			return 0, time.Time{}, false
		}
	}
	k = s.next
	if s.interval > 0 {
		due = s.start.Add(time.Duration(k) * s.interval)
		if !s.deadline.IsZero() && !due.Before(s.deadline) {
			return 0, time.Time{}, false
		}
	}
	s.next++
	return k, due, true
}

// taken is the number of slots handed out.
func (s *schedule) taken() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// missed is, in fixed-rate mode, the number of slots due before the deadline
// (and within the count) that no worker took by the end of the drain
// because all were busy: the offered rate was not sustained.
func (s *schedule) missed() int64 {
	if s.interval <= 0 || s.deadline.IsZero() {
		return 0
	}
	window := s.deadline.Sub(s.start)
	due := int64((window + s.interval - 1) / s.interval) // slots k with k*interval < window
	if s.limit > 0 {
		due = min(due, s.limit)
	}
	return max(due-s.taken(), 0)
}

// outcome is what one request came back with.
type outcome struct {
	ok        bool   // answered 200
	code      string // AWS error code, or a client-side failure class
	message   string // a sample of the error, for diagnosis
	records   int    // records the request carried
	succeeded int    // records answered with Status Success
	duplicate bool   // the request repeated an earlier one
}

// tally is one worker's share of the result; workers never share one, and
// the run merges them at the end.
type tally struct {
	latency    *Histogram
	requests   int64
	ok         int64
	records    int64
	succeeded  int64
	duplicates int64
	errors     map[string]int64
	samples    map[string]string
}

func newTally() *tally {
	return &tally{latency: NewHistogram(), errors: map[string]int64{}, samples: map[string]string{}}
}

func (t *tally) add(o outcome, latency time.Duration) {
	t.latency.Record(latency)
	t.requests++
	if o.duplicate {
		t.duplicates++
	}
	if o.ok {
		t.ok++
		t.records += int64(o.records)
		t.succeeded += int64(o.succeeded)
		return
	}
	t.errors[o.code]++
	if _, seen := t.samples[o.code]; !seen {
		t.samples[o.code] = o.message
	}
}

// work is one worker's loop: take a slot, wait until it is due, send it,
// record the latency from when it was due (fixed rate) or sent (closed
// loop). It returns when the schedule is exhausted or ctx is done.
func work(ctx context.Context, clk clock, s *schedule, send func(ctx context.Context, k int64) outcome, t *tally) {
	for ctx.Err() == nil {
		now := clk.Now()
		k, due, ok := s.take(now)
		if !ok {
			return
		}
		start := now
		if !due.IsZero() {
			if d := due.Sub(now); d > 0 {
				clk.Sleep(ctx, d)
				if ctx.Err() != nil {
					return
				}
			}
			start = due
		}
		o := send(ctx, k)
		t.add(o, clk.Now().Sub(start))
	}
}
