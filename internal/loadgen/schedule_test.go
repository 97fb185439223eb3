package loadgen

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock moves only when a worker sleeps or a fake request takes time,
// so that the scheduler is tested without real waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) { c.advance(d) }

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var epoch = time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)

// runFake runs one worker over s against a fake server that takes cost per
// request, and returns the tally and the slots sent, in order.
func runFake(s *schedule, clk *fakeClock, cost time.Duration) (*tally, []int64) {
	t := newTally()
	var slots []int64
	send := func(_ context.Context, k int64) outcome {
		slots = append(slots, k)
		clk.advance(cost)
		return outcome{ok: true, records: 1, succeeded: 1}
	}
	work(context.Background(), clk, s, send, t)
	return t, slots
}

func TestFixedRateKeepsUp(t *testing.T) {
	clk := &fakeClock{now: epoch}
	s := &schedule{start: epoch, interval: 10 * time.Millisecond, deadline: epoch.Add(time.Second)}
	tl, slots := runFake(s, clk, time.Millisecond)
	if tl.requests != 100 || s.missed() != 0 {
		t.Fatalf("sent %d, missed %d; want 100 and 0", tl.requests, s.missed())
	}
	for i, k := range slots {
		if k != int64(i) {
			t.Fatalf("slot %d sent as %d", i, k)
		}
	}
	if tl.latency.Min() != time.Millisecond || tl.latency.Max() != time.Millisecond {
		t.Errorf("latency %v..%v, want exactly 1ms: an on-time request waits for nothing", tl.latency.Min(), tl.latency.Max())
	}
	if want := epoch.Add(990*time.Millisecond + time.Millisecond); !clk.Now().Equal(want) {
		t.Errorf("last answer at %v, want %v: requests must wait for their slot", clk.Now().Sub(epoch), want.Sub(epoch))
	}
}

// TestFixedRateCountsTheWait is coordinated omission: a server slower than
// the rate delays every later request, and each request's latency must
// include the time it waited past its slot.
func TestFixedRateCountsTheWait(t *testing.T) {
	clk := &fakeClock{now: epoch}
	s := &schedule{start: epoch, interval: 10 * time.Millisecond, deadline: epoch.Add(time.Second)}
	tl, _ := runFake(s, clk, 25*time.Millisecond)
	// Slot k is due at 10k ms and answered at 25(k+1) ms; slots are taken
	// while the clock is before 1s, so k = 0..39.
	if tl.requests != 40 {
		t.Fatalf("sent %d, want 40", tl.requests)
	}
	if got := s.missed(); got != 60 {
		t.Errorf("missed %d, want 60 (100 due, 40 sent)", got)
	}
	if tl.latency.Min() != 25*time.Millisecond {
		t.Errorf("min latency %v, want 25ms", tl.latency.Min())
	}
	if want := (25 + 15*39) * time.Millisecond; tl.latency.Max() != want {
		t.Errorf("max latency %v, want %v (due at 390ms, answered at 1000ms)", tl.latency.Max(), want)
	}
	// A closed-loop measurement would have reported 25ms for every request.
	if p50 := tl.latency.Percentile(50); p50 < 300*time.Millisecond {
		t.Errorf("p50 %v: the wait behind the slow server is missing", p50)
	}
}

func TestScheduleLimits(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration // 0: closed loop
		window   time.Duration // 0: no deadline
		drain    time.Duration
		limit    int64
		cost     time.Duration
		requests int64
		missed   int64
	}{
		{"RateAndCount", 10 * time.Millisecond, time.Second, 0, 30, time.Millisecond, 30, 0},
		{"RateAndCountSlow", 10 * time.Millisecond, time.Second, 0, 300, 25 * time.Millisecond, 40, 60},
		{"RateWithoutDeadline", 10 * time.Millisecond, 0, 0, 7, 25 * time.Millisecond, 7, 0},
		{"ClosedLoopCount", 0, 0, 0, 50, 3 * time.Millisecond, 50, 0},
		{"ClosedLoopDeadline", 0, time.Second, 0, 0, 3 * time.Millisecond, 334, 0},
		{"RateNotMultipleOfWindow", 300 * time.Millisecond, time.Second, 0, 0, time.Millisecond, 4, 0},
		// Slot k is taken at 25k ms; with 500ms of drain, slots due before
		// 1s are still taken until 1.5s: k = 0..59.
		{"SlowWithDrain", 10 * time.Millisecond, time.Second, 500 * time.Millisecond, 0, 25 * time.Millisecond, 60, 40},
		// Drain never applies to a closed loop.
		{"ClosedLoopIgnoresDrain", 0, time.Second, 500 * time.Millisecond, 0, 3 * time.Millisecond, 334, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{now: epoch}
			s := &schedule{start: epoch, interval: tt.interval, drain: tt.drain, limit: tt.limit}
			if tt.window > 0 {
				s.deadline = epoch.Add(tt.window)
			}
			tl, _ := runFake(s, clk, tt.cost)
			if tl.requests != tt.requests || s.missed() != tt.missed {
				t.Errorf("sent %d, missed %d; want %d and %d", tl.requests, s.missed(), tt.requests, tt.missed)
			}
			if tl.latency.Count() != uint64(tl.requests) || tl.records != tl.requests {
				t.Errorf("%d latencies and %d records for %d requests", tl.latency.Count(), tl.records, tl.requests)
			}
		})
	}
}

func TestScheduleHandsOutEachSlotOnce(t *testing.T) {
	s := &schedule{start: epoch, limit: 10000}
	seen := make([]bool, s.limit)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				k, _, ok := s.take(epoch)
				if !ok {
					return
				}
				mu.Lock()
				if seen[k] {
					t.Errorf("slot %d handed out twice", k)
				}
				seen[k] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for k, ok := range seen {
		if !ok {
			t.Fatalf("slot %d never handed out", k)
		}
	}
}

func TestTallyCountsErrorsByCode(t *testing.T) {
	tl := newTally()
	tl.add(outcome{ok: true, records: 25, succeeded: 24}, time.Millisecond)
	tl.add(outcome{code: "ThrottlingException", message: "first"}, time.Millisecond)
	tl.add(outcome{code: "ThrottlingException", message: "second", duplicate: true}, time.Millisecond)
	if tl.requests != 3 || tl.ok != 1 || tl.records != 25 || tl.succeeded != 24 || tl.duplicates != 1 {
		t.Errorf("tally %+v", tl)
	}
	if tl.errors["ThrottlingException"] != 2 || tl.samples["ThrottlingException"] != "first" {
		t.Errorf("errors %v samples %v", tl.errors, tl.samples)
	}
}
