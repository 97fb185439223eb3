package main

import (
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/adminapi"
)

// TestControlsCLI runs the test-control subcommands against a real meterd.
func TestControlsCLI(t *testing.T) {
	a := startApp(t)
	controls := func(args ...string) adminapi.Controls {
		t.Helper()
		var c adminapi.Controls
		mustDecode(t, mustCLI(t, a, append(append([]string{"controls"}, args...), "--json")...), &c)
		return c
	}

	c := controls("clock", "--offset", "-7h")
	if c.Clock.Offset != "-7h0m0s" || c.RealTime.Sub(c.Now).Round(time.Hour) != 7*time.Hour {
		t.Errorf("clock --offset -7h: %+v", c)
	}
	c = controls("clock", "--freeze", "2026-01-31T23:30:00Z")
	if want := time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC); !c.Clock.FrozenAt.Equal(want) || !c.Now.Equal(want) {
		t.Errorf("clock --freeze: %+v", c)
	}
	c = controls("clock", "--real")
	if c.Clock != (adminapi.ClockControl{}) {
		t.Errorf("clock --real: %+v", c.Clock)
	}
	c = controls("clock", "--freeze-now")
	if c.Clock.FrozenAt.IsZero() || time.Since(c.Clock.FrozenAt) > time.Minute {
		t.Errorf("clock --freeze-now: %+v", c.Clock)
	}

	controls("fault", "--operation", "BatchMeterUsage", "--account", "111122223333", "--throttle-rate", "0.25", "--latency", "50ms", "--unprocessed-rate", "0.5")
	c = controls("fault", "--internal-error-rate", "0.1")
	want := []adminapi.Fault{
		{Operation: "BatchMeterUsage", Account: "111122223333", ThrottleRate: 0.25, Latency: "50ms", UnprocessedRate: 0.5},
		{InternalErrorRate: 0.1},
	}
	if len(c.Faults) != 2 || c.Faults[0] != want[0] || c.Faults[1] != want[1] {
		t.Errorf("faults: %+v, want %+v", c.Faults, want)
	}
	if c = controls("clear-faults"); len(c.Faults) != 0 {
		t.Errorf("after clear-faults: %+v", c.Faults)
	}
	c = controls("quotas", "on", "--rate", "MeterUsage=2")
	if !c.Quotas.Enabled || c.Quotas.PerSecond["MeterUsage"] != 2 || c.Quotas.PerSecond["BatchMeterUsage"] != 10 {
		t.Errorf("quotas on: %+v", c.Quotas)
	}

	// The table form names what is on.
	out := mustCLI(t, a, "controls", "show")
	for _, s := range []string{"clock:", "frozen", "quotas:", "MeterUsage 2/s", "faults:"} {
		if !strings.Contains(out, s) {
			t.Errorf("controls show lacks %q:\n%s", s, out)
		}
	}
	if c = controls("clear"); c.Quotas.Enabled || !c.Clock.FrozenAt.IsZero() {
		t.Errorf("after clear: %+v", c)
	}

	// Errors name the problem.
	code, _, errs := cli(t, a, "controls", "fault", "--throttle-rate", "2")
	if code != 1 || !strings.Contains(errs, "throttle_rate") {
		t.Errorf("fault --throttle-rate 2: exit %d: %s", code, errs)
	}
	if code, _, errs = cli(t, a, "controls", "clock"); code != 1 || !strings.Contains(errs, "one of") {
		t.Errorf("clock without a flag: exit %d: %s", code, errs)
	}

	// reset: the demo state can be reloaded.
	if out := mustCLI(t, a, "reset"); !strings.Contains(out, "0 usage records deleted") {
		t.Errorf("reset: %s", out)
	}
	if out := mustCLI(t, a, "reset", "--reload-state"); !strings.Contains(out, "state reloaded") {
		t.Errorf("reset --reload-state: %s", out)
	}
}
