// Package controls holds meterd's test controls: a clock the tester moves,
// faults injected into the data plane, and AWS's request quotas as
// optional token-bucket throttles. A seller points an integration at
// meterd, turns these on through the admin API, the CLI or the state file's
// controls key, and proves that its retries and backfills work.
//
// Controls are process state, not stored: they last until changed, cleared
// or the process ends, and a state file's controls key sets them again at
// start. Replicas on one PostgreSQL database each have their own, set
// through each one's admin API. The zero Settings is what meterd does without them: the real
// clock, no faults, no quotas.
//
// Faults fire on an even, deterministic pattern rather than at random
// (call n draws frac(n·φ), a low-discrepancy sequence), so a rate of 0.25
// refuses one call in four and a test run sees the same pattern every time.
//
// The package imports only the standard library and the domain, so that
// the state file, the admin API and the data-plane hooks can all share its
// types.
package controls

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// Operations are the data-plane operations faults and quotas name.
var Operations = []string{"MeterUsage", "BatchMeterUsage", "RegisterUsage", "ResolveCustomer", "GetEntitlements"}

// AWSQuotas are the request rates AWS documents per account, in calls per
// second (Marketplace Metering Service quotas).
var AWSQuotas = map[string]float64{
	"BatchMeterUsage": 10,
	"MeterUsage":      10,
	"RegisterUsage":   5,
}

// MaxLatency bounds a fault's added latency, so that a call still answers
// within the server's 30 s write timeout.
const MaxLatency = 25 * time.Second

// Settings are all test controls.
type Settings struct {
	Clock  ClockSetting
	Faults []Fault
	Quotas Quotas
}

// ClockSetting moves the clock the metering rules read: time windows,
// registration-token expiry, subscription windows and RegisterUsage key
// dates. The zero value is the real clock.
type ClockSetting struct {
	// Offset is added to the real time ("-7h": the clock runs 7 hours
	// behind).
	Offset time.Duration
	// Frozen, when set, is the time the clock stands still at.
	Frozen time.Time
}

// IsZero reports whether the clock is the real one.
func (c ClockSetting) IsZero() bool { return c.Offset == 0 && c.Frozen.IsZero() }

// Fault injects trouble into the calls it matches.
type Fault struct {
	// Operation limits the fault to one operation; empty matches all.
	Operation string
	// Account limits the fault to calls made as one AWS account (the
	// caller's: the seller for BatchMeterUsage, the buyer for MeterUsage);
	// empty matches all.
	Account string
	// ThrottleRate is the fraction of calls answered ThrottlingException.
	ThrottleRate float64
	// InternalErrorRate is the fraction of calls answered
	// InternalServiceErrorException. The two rates sum to at most 1.
	InternalErrorRate float64
	// Latency is added to every matching call before it runs.
	Latency time.Duration
	// UnprocessedRate is the fraction of BatchMeterUsage records returned
	// in UnprocessedRecords instead of being metered: they are not stored,
	// and the client must send them again.
	UnprocessedRate float64
}

func (f Fault) matches(operation, account string) bool {
	return (f.Operation == "" || f.Operation == operation) && (f.Account == "" || f.Account == account)
}

// Quotas throttle each account's calls of an operation with a token bucket
// that holds one second of calls, as AWS's per-account rate quotas do.
type Quotas struct {
	Enabled bool
	// PerSecond overrides AWSQuotas for the operations it names; an
	// operation named by neither is not throttled.
	PerSecond map[string]float64
}

// Rate returns the calls per second the quotas allow operation, 0 for no
// limit.
func (q Quotas) Rate(operation string) float64 {
	if !q.Enabled {
		return 0
	}
	if r, ok := q.PerSecond[operation]; ok {
		return r
	}
	return AWSQuotas[operation]
}

// Validate checks settings and names every problem, with paths written
// as the state file's keys ("faults[1].throttle_rate").
func (s Settings) Validate() error {
	var e Error
	add := func(path, format string, args ...any) {
		e.Problems = append(e.Problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if s.Clock.Offset != 0 && !s.Clock.Frozen.IsZero() {
		add("clock", "give offset or frozen_at, not both")
	}
	rate := func(path string, r float64) {
		if math.IsNaN(r) || r < 0 || r > 1 {
			add(path, "a rate is a fraction from 0 to 1, got %v", r)
		}
	}
	for i, f := range s.Faults {
		p := fmt.Sprintf("faults[%d]", i)
		if f.Operation != "" && !slices.Contains(Operations, f.Operation) {
			add(p+".operation", "%q is not one of %s", f.Operation, strings.Join(Operations, ", "))
		}
		if f.Account != "" && !isAccountID(f.Account) {
			add(p+".account", "%q is not a 12-digit account id", f.Account)
		}
		rate(p+".throttle_rate", f.ThrottleRate)
		rate(p+".internal_error_rate", f.InternalErrorRate)
		rate(p+".unprocessed_rate", f.UnprocessedRate)
		if f.ThrottleRate <= 1 && f.InternalErrorRate <= 1 && f.ThrottleRate+f.InternalErrorRate > 1 {
			add(p, "throttle_rate and internal_error_rate sum to more than 1")
		}
		if f.UnprocessedRate > 0 && f.Operation != "" && f.Operation != "BatchMeterUsage" {
			add(p+".unprocessed_rate", "only BatchMeterUsage has UnprocessedRecords")
		}
		if f.Latency < 0 || f.Latency > MaxLatency {
			add(p+".latency", "from 0 to %s, got %s", MaxLatency, f.Latency)
		}
	}
	for _, op := range slices.Sorted(maps.Keys(s.Quotas.PerSecond)) {
		r := s.Quotas.PerSecond[op]
		if !slices.Contains(Operations, op) {
			add("quotas.per_second."+op, "%q is not one of %s", op, strings.Join(Operations, ", "))
		}
		if math.IsNaN(r) || r <= 0 || r > 1e6 {
			add("quotas.per_second."+op, "a rate is more than 0 calls per second, got %v", r)
		}
	}
	if len(e.Problems) == 0 {
		return nil
	}
	return &e
}

// Error lists what is wrong with Settings.
type Error struct{ Problems []Problem }

// Problem is one thing wrong with Settings, at a key path.
type Problem struct{ Path, Message string }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid test controls")
	for _, p := range e.Problems {
		b.WriteString("; " + p.Path + ": " + p.Message)
	}
	return b.String()
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Controls applies Settings. It is the clock the metering rules read
// (metering.Clock) and decides the fate of each data-plane call. It is safe
// for concurrent use.
type Controls struct {
	base metering.Clock
	// since measures quota refills; real elapsed time, so that a frozen
	// clock does not stop them.
	since func() time.Time

	mu       sync.Mutex
	settings Settings
	draws    []faultDraws // one per fault, as in settings.Faults
	buckets  map[bucketKey]*bucket
}

type faultDraws struct{ calls, records uint64 }

type bucketKey struct{ account, operation string }

var _ metering.Clock = (*Controls)(nil)

// New returns Controls with nothing turned on, over the base clock (the
// real one when nil).
func New(base metering.Clock) *Controls {
	if base == nil {
		base = metering.SystemClock{}
	}
	return &Controls{base: base, since: time.Now, buckets: map[bucketKey]*bucket{}}
}

// Now is the controlled time: frozen, or the base clock plus the offset.
func (c *Controls) Now() time.Time {
	c.mu.Lock()
	clk := c.settings.Clock
	c.mu.Unlock()
	if !clk.Frozen.IsZero() {
		return clk.Frozen
	}
	return c.base.Now().Add(clk.Offset)
}

// Base is the clock Controls wraps.
func (c *Controls) Base() metering.Clock { return c.base }

// Settings returns the current settings.
func (c *Controls) Settings() Settings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return clone(c.settings)
}

func clone(s Settings) Settings {
	s.Faults = slices.Clone(s.Faults)
	s.Quotas.PerSecond = maps.Clone(s.Quotas.PerSecond)
	return s
}

// Set replaces all settings. Fault patterns and quota buckets start over.
func (c *Controls) Set(s Settings) error {
	return c.update(func(cur *Settings) { *cur = clone(s) })
}

// SetClock replaces the clock setting only.
func (c *Controls) SetClock(clk ClockSetting) error {
	return c.update(func(s *Settings) { s.Clock = clk })
}

// AddFault adds one fault after the others.
func (c *Controls) AddFault(f Fault) error {
	return c.update(func(s *Settings) { s.Faults = append(s.Faults, f) })
}

// ClearFaults removes every fault.
func (c *Controls) ClearFaults() error {
	return c.update(func(s *Settings) { s.Faults = nil })
}

// SetQuotas replaces the quota setting only.
func (c *Controls) SetQuotas(q Quotas) error {
	return c.update(func(s *Settings) { s.Quotas = q })
}

// update applies change to a copy of the settings and keeps it if valid.
func (c *Controls) update(change func(*Settings)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := clone(c.settings)
	change(&next)
	if err := next.Validate(); err != nil {
		return err
	}
	c.settings = next
	c.draws = make([]faultDraws, len(next.Faults))
	c.buckets = map[bucketKey]*bucket{}
	return nil
}

// ResetCounters starts fault patterns and quota buckets over, for a reset
// between test cases.
func (c *Controls) ResetCounters() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draws = make([]faultDraws, len(c.settings.Faults))
	c.buckets = map[bucketKey]*bucket{}
}

// phi's fractional part spreads draws evenly over [0, 1).
const phi = 0.6180339887498949

func draw(n uint64) float64 {
	_, f := math.Modf(float64(n) * phi)
	return f
}

// Messages of the refusals Admit makes; tests and users can tell injected
// trouble from real.
const (
	MsgQuota    = "Rate exceeded: %s allows %v calls per second per account (meterd quota)."
	MsgThrottle = "Rate exceeded (fault injected by meterd's test controls)."
)

// Admit decides a call of operation made as account: it waits out the
// faults' latency, then refuses the call when a quota or a fault says so.
// The refusals are metering errors of KindThrottling and KindInternal.
func (c *Controls) Admit(ctx context.Context, operation, account string) error {
	c.mu.Lock()
	var latency time.Duration
	var refusal error
	if r := c.settings.Quotas.Rate(operation); r > 0 {
		k := bucketKey{account, operation}
		b := c.buckets[k]
		if b == nil {
			b = &bucket{tokens: max(r, 1), last: c.since()}
			c.buckets[k] = b
		}
		if !b.take(r, c.since()) {
			refusal = metering.Errorf(metering.KindThrottling, MsgQuota, operation, r)
		}
	}
	for i, f := range c.settings.Faults {
		if !f.matches(operation, account) {
			continue
		}
		latency += f.Latency
		if f.ThrottleRate == 0 && f.InternalErrorRate == 0 {
			continue
		}
		c.draws[i].calls++
		u := draw(c.draws[i].calls)
		switch {
		case refusal != nil:
		case u < f.ThrottleRate:
			refusal = metering.Errorf(metering.KindThrottling, MsgThrottle)
		case u < f.ThrottleRate+f.InternalErrorRate:
			refusal = fmt.Errorf("internal error injected by meterd's test controls (fault %d)", i)
		}
	}
	c.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return refusal
}

// Unprocessed picks which of a BatchMeterUsage call's n records to return
// in UnprocessedRecords instead of metering them, as indexes in ascending
// order; none when no fault asks for it.
func (c *Controls) Unprocessed(ctx context.Context, account string, n int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for i, f := range c.settings.Faults {
		if f.UnprocessedRate == 0 || !f.matches("BatchMeterUsage", account) {
			continue
		}
		for j := 0; j < n; j++ {
			c.draws[i].records++
			if draw(c.draws[i].records) < f.UnprocessedRate && !slices.Contains(out, j) {
				out = append(out, j)
			}
		}
	}
	slices.Sort(out)
	return out
}

// bucket is a token bucket holding up to one second of calls (at least
// one call).
type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(rate float64, now time.Time) bool {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(max(rate, 1), b.tokens+d.Seconds()*rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
