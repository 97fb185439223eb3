package adminapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meterd/meterd/internal/adminapi"
	"github.com/meterd/meterd/internal/controls"
)

// TestControlsRoutes checks the test-control routes' answers and errors;
// e2e/controls_test.go proves their effect on SDK clients.
func TestControlsRoutes(t *testing.T) {
	f := newFixture(t)
	// The fixture serves no test controls: 501.
	_, err := f.client.Controls(t.Context())
	wantError(t, err, http.StatusNotImplemented, adminapi.CodeUnavailable)

	ctl := controls.New(nil)
	var resets []bool
	srv := httptest.NewServer(adminapi.New(adminapi.Options{Service: f.svc, TokenHash: adminapi.HashToken(token),
		Test: &adminapi.TestControls{Controls: ctl, Reset: func(_ context.Context, reload bool) (adminapi.ResetResult, error) {
			resets = append(resets, reload)
			return adminapi.ResetResult{RecordsDeleted: 3, StateReloaded: reload}, nil
		}}}))
	defer srv.Close()
	c := adminapi.NewClient(srv.URL, token)

	got, err := c.PutControls(t.Context(), adminapi.Controls{
		Clock:  adminapi.ClockControl{Offset: "-2h"},
		Faults: []adminapi.Fault{{Operation: "MeterUsage", ThrottleRate: 0.5, Latency: "10ms"}},
		Quotas: adminapi.QuotaControl{Enabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Clock.Offset != "-2h0m0s" || len(got.Faults) != 1 || got.Faults[0].Latency != "10ms" || got.Quotas.PerSecond["RegisterUsage"] != 5 {
		t.Errorf("PUT answered %+v", got)
	}
	if s := ctl.Settings(); s.Clock.Offset.Hours() != -2 || len(s.Faults) != 1 || !s.Quotas.Enabled {
		t.Errorf("settings after PUT: %+v", s)
	}

	tests := []struct {
		name string
		call func() error
		path string // the problem's path
	}{
		{"RateAboveOne", func() error {
			_, err := c.AddFault(t.Context(), adminapi.Fault{ThrottleRate: 2})
			return err
		}, "faults[1].throttle_rate"},
		{"BadLatency", func() error {
			_, err := c.AddFault(t.Context(), adminapi.Fault{Latency: "soon"})
			return err
		}, "latency"},
		{"BadOffset", func() error {
			_, err := c.SetClock(t.Context(), adminapi.ClockControl{Offset: "yesterday"})
			return err
		}, "clock.offset"},
		{"UnknownQuota", func() error {
			_, err := c.SetQuotas(t.Context(), adminapi.QuotaControl{Enabled: true, PerSecond: map[string]float64{"Nope": 1}})
			return err
		}, "quotas.per_second.Nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := wantError(t, tt.call(), http.StatusBadRequest, adminapi.CodeValidation)
			if len(e.Problems) != 1 || e.Problems[0].Path != tt.path {
				t.Errorf("problems %+v, want one at %s", e.Problems, tt.path)
			}
		})
	}
	if s := ctl.Settings(); len(s.Faults) != 1 {
		t.Errorf("a refused change changed the faults: %+v", s.Faults)
	}
	req, _ := http.NewRequest("PUT", srv.URL+"/admin/v1/controls/clock", strings.NewReader(`{"ofset": "1h"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 400 {
		t.Errorf("unknown field: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	if got, err = c.ClearControls(t.Context()); err != nil || len(got.Faults) != 0 || got.Quotas.Enabled || got.Clock.Offset != "" {
		t.Errorf("DELETE /controls: %+v %v", got, err)
	}
	res, err := c.Reset(t.Context(), true)
	if err != nil || res.RecordsDeleted != 3 || !res.StateReloaded {
		t.Errorf("reset: %+v %v", res, err)
	}
	if _, err := c.Reset(t.Context(), false); err != nil || len(resets) != 2 || resets[1] {
		t.Errorf("reset keep: %v, resets %v", err, resets)
	}
}
