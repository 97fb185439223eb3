package statefile_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meterd/meterd/internal/controls"
	"github.com/meterd/meterd/internal/statefile"
)

func TestParseControls(t *testing.T) {
	src := `region: us-east-1
controls:
  clock:
    offset: -7h
  faults:
    - operation: BatchMeterUsage
      account: 111122223333
      throttle_rate: 0.2
      internal_error_rate: 0.1
      latency: 250ms
      unprocessed_rate: 0.5
    - latency: 1s
  quotas:
    enabled: true
    per_second: {RegisterUsage: 2}
`
	f, err := statefile.Parse("s.yaml", []byte(src), now)
	if err != nil {
		t.Fatal(err)
	}
	want := &controls.Settings{
		Clock: controls.ClockSetting{Offset: -7 * time.Hour},
		Faults: []controls.Fault{
			{Operation: "BatchMeterUsage", Account: "111122223333", ThrottleRate: 0.2, InternalErrorRate: 0.1, Latency: 250 * time.Millisecond, UnprocessedRate: 0.5},
			{Latency: time.Second},
		},
		Quotas: controls.Quotas{Enabled: true, PerSecond: map[string]float64{"RegisterUsage": 2}},
	}
	if !reflect.DeepEqual(f.Controls, want) {
		t.Errorf("Controls = %+v\nwant %+v", f.Controls, want)
	}
	if len(f.Warnings) != 0 {
		t.Errorf("Warnings = %v", f.Warnings)
	}

	f, err = statefile.Parse("s.yaml", []byte("region: us-east-1\n"), now)
	if err != nil || f.Controls != nil {
		t.Errorf("no controls key: Controls = %v, %v; want nil", f.Controls, err)
	}
	f, err = statefile.Parse("s.yaml", []byte("controls:\n  clock: {frozen_at: 2026-01-31T23:30:00Z}\n"), now)
	if err != nil || !f.Controls.Clock.Frozen.Equal(time.Date(2026, 1, 31, 23, 30, 0, 0, time.UTC)) {
		t.Errorf("frozen_at: %+v, %v", f.Controls, err)
	}
}

func TestParseControlsErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // "line: path: message" fragment
	}{
		{"RateAboveOne", "controls:\n  faults:\n    - throttle_rate: 2\n", "s.yaml:3: controls.faults[0].throttle_rate: a rate is a fraction"},
		{"RateNotNumber", "controls:\n  faults:\n    - throttle_rate: lots\n", "s.yaml:3: controls.faults[0].throttle_rate: expected a number"},
		{"UnknownOperation", "controls:\n  faults:\n    - {latency: 1s}\n    - operation: Meter\n", "s.yaml:4: controls.faults[1].operation: \"Meter\" is not one of"},
		{"OffsetAndFrozen", "controls:\n  clock:\n    offset: 1h\n    frozen_at: 2026-01-01\n", "s.yaml:2: controls.clock: give offset or frozen_at, not both"},
		{"BadDuration", "controls:\n  clock: {offset: soon}\n", "s.yaml:2: controls.clock.offset: \"soon\" is not a duration"},
		{"QuotaOperation", "controls:\n  quotas:\n    per_second:\n      Nope: 3\n", "s.yaml:4: controls.quotas.per_second.Nope: \"Nope\" is not one of"},
		{"FaultsNotList", "controls:\n  faults: {latency: 1s}\n", "s.yaml:2: controls.faults: expected a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := statefile.Parse("s.yaml", []byte(tt.src), now)
			if err == nil {
				t.Fatal("no error")
			}
			var fe *statefile.Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *statefile.Error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n%v\nwant it to contain\n%s", err, tt.want)
			}
		})
	}
}

func TestParseControlsUnknownKey(t *testing.T) {
	f, err := statefile.Parse("s.yaml", []byte("controls:\n  faults:\n    - throttle: 0.5\n"), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Warnings) != 1 || !strings.Contains(f.Warnings[0].String(), "controls.faults[0].throttle: unknown key, ignored") {
		t.Errorf("Warnings = %v", f.Warnings)
	}
}
