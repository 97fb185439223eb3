package controls

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestClock(t *testing.T) {
	base := metering.ClockFunc(func() time.Time { return t0 })
	c := New(base)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("zero settings: Now = %v, want the base %v", got, t0)
	}
	if err := c.SetClock(ClockSetting{Offset: -7 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := c.Now(); !got.Equal(t0.Add(-7 * time.Hour)) {
		t.Errorf("offset -7h: Now = %v", got)
	}
	frozen := time.Date(2026, 1, 31, 23, 59, 0, 0, time.UTC)
	if err := c.SetClock(ClockSetting{Frozen: frozen}); err != nil {
		t.Fatal(err)
	}
	if got := c.Now(); !got.Equal(frozen) {
		t.Errorf("frozen: Now = %v, want %v", got, frozen)
	}
	if got := c.Base().Now(); !got.Equal(t0) {
		t.Errorf("Base().Now = %v, want %v", got, t0)
	}
	if err := c.SetClock(ClockSetting{Offset: time.Hour, Frozen: frozen}); err == nil {
		t.Error("offset and frozen together: no error")
	}
	if got := c.Now(); !got.Equal(frozen) {
		t.Errorf("a refused setting changed the clock: Now = %v", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		s    Settings
		want string // a problem's path; empty: valid
	}{
		{"Zero", Settings{}, ""},
		{"Full", Settings{
			Clock:  ClockSetting{Offset: -7 * time.Hour},
			Faults: []Fault{{Operation: "BatchMeterUsage", Account: "111122223333", ThrottleRate: 0.5, InternalErrorRate: 0.5, Latency: time.Second, UnprocessedRate: 1}},
			Quotas: Quotas{Enabled: true, PerSecond: map[string]float64{"MeterUsage": 0.5}},
		}, ""},
		{"UnknownOperation", Settings{Faults: []Fault{{Operation: "Meter"}}}, "faults[0].operation"},
		{"BadAccount", Settings{Faults: []Fault{{Account: "1234"}}}, "faults[0].account"},
		{"RateAboveOne", Settings{Faults: []Fault{{ThrottleRate: 1.5}}}, "faults[0].throttle_rate"},
		{"NegativeRate", Settings{Faults: []Fault{{InternalErrorRate: -0.1}}}, "faults[0].internal_error_rate"},
		{"RatesSumAboveOne", Settings{Faults: []Fault{{ThrottleRate: 0.6, InternalErrorRate: 0.6}}}, "faults[0]"},
		{"UnprocessedNotBatch", Settings{Faults: []Fault{{Operation: "MeterUsage", UnprocessedRate: 0.5}}}, "faults[0].unprocessed_rate"},
		{"LatencyTooLong", Settings{Faults: []Fault{{Latency: time.Minute}}}, "faults[0].latency"},
		{"NegativeLatency", Settings{Faults: []Fault{{Latency: -time.Second}}}, "faults[0].latency"},
		{"QuotaUnknownOperation", Settings{Quotas: Quotas{PerSecond: map[string]float64{"Foo": 1}}}, "quotas.per_second.Foo"},
		{"QuotaZero", Settings{Quotas: Quotas{PerSecond: map[string]float64{"MeterUsage": 0}}}, "quotas.per_second.MeterUsage"},
		{"OffsetAndFrozen", Settings{Clock: ClockSetting{Offset: time.Hour, Frozen: t0}}, "clock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate = %v, want an *Error", err)
			}
			for _, p := range e.Problems {
				if p.Path == tt.want {
					return
				}
			}
			t.Errorf("Validate = %v, want a problem at %s", err, tt.want)
		})
	}
}

// TestFaultRates checks that the rates hold exactly over many calls, that
// the pattern is the same after a restart of the counters, and that faults
// match by operation and account.
func TestFaultRates(t *testing.T) {
	c := New(nil)
	if err := c.Set(Settings{Faults: []Fault{
		{Operation: "MeterUsage", Account: "111122223333", ThrottleRate: 0.25, InternalErrorRate: 0.1},
	}}); err != nil {
		t.Fatal(err)
	}
	run := func(op, account string, n int) (pattern string, throttled, failed int) {
		var b strings.Builder
		for i := 0; i < n; i++ {
			err := c.Admit(context.Background(), op, account)
			switch {
			case err == nil:
				b.WriteByte('.')
			case metering.KindOf(err) == metering.KindThrottling:
				b.WriteByte('T')
				throttled++
			default:
				b.WriteByte('E')
				failed++
			}
		}
		return b.String(), throttled, failed
	}
	pattern, throttled, failed := run("MeterUsage", "111122223333", 1000)
	if throttled < 245 || throttled > 255 || failed < 95 || failed > 105 {
		t.Errorf("1000 calls at 0.25 throttle, 0.1 error: %d throttled, %d failed", throttled, failed)
	}
	c.ResetCounters()
	if again, _, _ := run("MeterUsage", "111122223333", 1000); again != pattern {
		t.Error("the pattern differs after ResetCounters")
	}
	for _, other := range [][2]string{{"BatchMeterUsage", "111122223333"}, {"MeterUsage", "444455556666"}} {
		if _, th, f := run(other[0], other[1], 100); th+f > 0 {
			t.Errorf("%s as %s: %d refused by a fault that does not match", other[0], other[1], th+f)
		}
	}
}

func TestLatency(t *testing.T) {
	c := New(nil)
	if err := c.AddFault(Fault{Operation: "GetEntitlements", Latency: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Admit(context.Background(), "GetEntitlements", "111122223333"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("latency 50ms took %v", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Admit(ctx, "GetEntitlements", "111122223333"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during latency: %v", err)
	}
}

func TestUnprocessed(t *testing.T) {
	c := New(nil)
	if got := c.Unprocessed(context.Background(), "111122223333", 10); len(got) != 0 {
		t.Fatalf("no faults: Unprocessed = %v", got)
	}
	if err := c.AddFault(Fault{Account: "111122223333", UnprocessedRate: 0.3}); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i := 0; i < 10; i++ {
		got := c.Unprocessed(context.Background(), "111122223333", 10)
		for j := 1; j < len(got); j++ {
			if got[j] <= got[j-1] {
				t.Fatalf("Unprocessed = %v, not ascending", got)
			}
		}
		total += len(got)
	}
	if total < 28 || total > 32 {
		t.Errorf("100 records at 0.3: %d unprocessed", total)
	}
	if got := c.Unprocessed(context.Background(), "999988887777", 10); len(got) != 0 {
		t.Errorf("another account: Unprocessed = %v", got)
	}
}

func TestQuotas(t *testing.T) {
	now := t0
	c := New(nil)
	c.since = func() time.Time { return now }
	if err := c.SetQuotas(Quotas{Enabled: true, PerSecond: map[string]float64{"RegisterUsage": 2}}); err != nil {
		t.Fatal(err)
	}
	admitted := func(op, account string, n int) int {
		ok := 0
		for i := 0; i < n; i++ {
			if c.Admit(context.Background(), op, account) == nil {
				ok++
			}
		}
		return ok
	}
	tests := []struct {
		op   string
		want int // admitted of 30 at once
	}{
		{"BatchMeterUsage", 10},
		{"MeterUsage", 10},
		{"RegisterUsage", 2}, // overridden
		{"GetEntitlements", 30},
	}
	for _, tt := range tests {
		if got := admitted(tt.op, "111122223333", 30); got != tt.want {
			t.Errorf("%s: %d of 30 admitted at once, want %d", tt.op, got, tt.want)
		}
	}
	if got := admitted("BatchMeterUsage", "444455556666", 30); got != 10 {
		t.Errorf("another account: %d of 30 admitted, want its own 10", got)
	}
	now = now.Add(500 * time.Millisecond)
	if got := admitted("BatchMeterUsage", "111122223333", 30); got != 5 {
		t.Errorf("after 0.5 s: %d admitted, want 5", got)
	}
	now = now.Add(time.Hour)
	if got := admitted("BatchMeterUsage", "111122223333", 30); got != 10 {
		t.Errorf("after an hour: %d admitted, want the bucket's 10", got)
	}
	err := c.Admit(context.Background(), "BatchMeterUsage", "111122223333")
	if metering.KindOf(err) != metering.KindThrottling || !strings.Contains(err.Error(), "10 calls per second") {
		t.Errorf("past the quota: %v", err)
	}
	if err := c.SetQuotas(Quotas{}); err != nil {
		t.Fatal(err)
	}
	if got := admitted("BatchMeterUsage", "111122223333", 30); got != 30 {
		t.Errorf("quotas off: %d of 30 admitted", got)
	}
}
