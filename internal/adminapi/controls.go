package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/meterd/meterd/internal/controls"
)

// The test-control routes: a clock the tester moves, injected faults, AWS's
// quotas as throttles, and a reset between test cases (internal/controls).
// They take the state file's controls key as JSON.

// TestControls are what the test-control routes act on. Without them
// (Options.Test nil) those routes answer 501.
type TestControls struct {
	Controls *controls.Controls
	// Reset wipes usage; with reload it then applies again the state
	// meterd started with (its state file, or the demo state) and that
	// state's controls.
	Reset func(ctx context.Context, reload bool) (ResetResult, error)
}

// Controls are the test controls, in the state file's controls schema.
type Controls struct {
	Clock  ClockControl `json:"clock"`
	Faults []Fault      `json:"faults"`
	Quotas QuotaControl `json:"quotas"`
	// Now is read-only: the time the metering rules read.
	Now time.Time `json:"now,omitzero"`
	// RealTime is read-only: the clock the controlled one is set against,
	// which SigV4's skew check keeps using.
	RealTime time.Time `json:"real_time,omitzero"`
}

// ClockControl moves the metering clock: an offset from real time, or a
// time it stands still at. Neither: the real clock.
type ClockControl struct {
	Offset   string    `json:"offset,omitempty"`
	FrozenAt time.Time `json:"frozen_at,omitzero"`
}

// Fault injects trouble into the calls it matches.
type Fault struct {
	Operation         string  `json:"operation,omitempty"`
	Account           string  `json:"account,omitempty"`
	ThrottleRate      float64 `json:"throttle_rate,omitempty"`
	InternalErrorRate float64 `json:"internal_error_rate,omitempty"`
	Latency           string  `json:"latency,omitempty"`
	UnprocessedRate   float64 `json:"unprocessed_rate,omitempty"`
}

// QuotaControl turns AWS's per-account rate quotas on. PerSecond overrides
// the rates of the operations it names; answers list every throttled
// operation's rate.
type QuotaControl struct {
	Enabled   bool               `json:"enabled"`
	PerSecond map[string]float64 `json:"per_second,omitempty"`
}

// ResetRequest is the body of POST /admin/v1/reset.
type ResetRequest struct {
	// State is "keep" (the default: reference data and controls stay) or
	// "reload" (the state meterd started with is applied again, controls
	// included).
	State string `json:"state,omitempty"`
}

// ResetResult says what a reset did.
type ResetResult struct {
	RecordsDeleted int64 `json:"records_deleted"`
	StateReloaded  bool  `json:"state_reloaded"`
}

func controlsRoutes() []route {
	return []route{
		{"GET", Prefix + "/controls", (*Server).getControls, false},
		{"PUT", Prefix + "/controls", (*Server).putControls, false},
		{"DELETE", Prefix + "/controls", (*Server).clearControls, false},
		{"PUT", Prefix + "/controls/clock", (*Server).putClock, false},
		{"POST", Prefix + "/controls/faults", (*Server).addFault, false},
		{"DELETE", Prefix + "/controls/faults", (*Server).clearFaults, false},
		{"PUT", Prefix + "/controls/quotas", (*Server).putQuotas, false},
		{"POST", Prefix + "/reset", (*Server).reset, false},
	}
}

func (s *Server) testControls() (*controls.Controls, error) {
	if s.o.Test == nil || s.o.Test.Controls == nil {
		return nil, errorf(http.StatusNotImplemented, CodeUnavailable, "This meterd serves no test controls.")
	}
	return s.o.Test.Controls, nil
}

func (s *Server) getControls(w http.ResponseWriter, r *http.Request) error {
	c, err := s.testControls()
	if err != nil {
		return err
	}
	return s.writeControls(w, c)
}

func (s *Server) writeControls(w http.ResponseWriter, c *controls.Controls) error {
	out := controlsOut(c.Settings())
	out.Now, out.RealTime = c.Now().UTC(), c.Base().Now().UTC()
	return writeJSON(w, http.StatusOK, out)
}

// change decodes a body into in, converts it and applies it to the
// controls, then answers the controls as they are.
func change[T any](s *Server, w http.ResponseWriter, r *http.Request, apply func(c *controls.Controls, in T) error) error {
	c, err := s.testControls()
	if err != nil {
		return err
	}
	var in T
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	if err := apply(c, in); err != nil {
		return controlsError(err)
	}
	s.o.Logger.Info("admin api: test controls changed", "path", r.URL.Path, "controls", fmt.Sprintf("%+v", c.Settings()))
	return s.writeControls(w, c)
}

func (s *Server) putControls(w http.ResponseWriter, r *http.Request) error {
	return change(s, w, r, func(c *controls.Controls, in Controls) error {
		st, err := in.domain()
		if err != nil {
			return err
		}
		return c.Set(st)
	})
}

func (s *Server) clearControls(w http.ResponseWriter, r *http.Request) error {
	return change(s, w, r, func(c *controls.Controls, _ struct{}) error { return c.Set(controls.Settings{}) })
}

func (s *Server) putClock(w http.ResponseWriter, r *http.Request) error {
	return change(s, w, r, func(c *controls.Controls, in ClockControl) error {
		clk, err := in.domain()
		if err != nil {
			return err
		}
		return c.SetClock(clk)
	})
}

func (s *Server) addFault(w http.ResponseWriter, r *http.Request) error {
	return change(s, w, r, func(c *controls.Controls, in Fault) error {
		f, err := in.domain("")
		if err != nil {
			return err
		}
		return c.AddFault(f)
	})
}

func (s *Server) clearFaults(w http.ResponseWriter, r *http.Request) error {
	return change(s, w, r, func(c *controls.Controls, _ struct{}) error { return c.ClearFaults() })
}

func (s *Server) putQuotas(w http.ResponseWriter, r *http.Request) error {
	return change(s, w, r, func(c *controls.Controls, in QuotaControl) error {
		return c.SetQuotas(controls.Quotas{Enabled: in.Enabled, PerSecond: in.PerSecond})
	})
}

func (s *Server) reset(w http.ResponseWriter, r *http.Request) error {
	if s.o.Test == nil || s.o.Test.Reset == nil {
		return errorf(http.StatusNotImplemented, CodeUnavailable, "This meterd cannot reset.")
	}
	var in ResetRequest
	if err := decode(w, r, &in, true); err != nil {
		return err
	}
	var reload bool
	switch in.State {
	case "", "keep":
	case "reload":
		reload = true
	default:
		return errorf(http.StatusBadRequest, CodeValidation, "state %q is not keep or reload.", in.State)
	}
	res, err := s.o.Test.Reset(r.Context(), reload)
	if err != nil {
		return err
	}
	s.o.Logger.Info("admin api: reset", "records_deleted", res.RecordsDeleted, "state_reloaded", res.StateReloaded)
	return writeJSON(w, http.StatusOK, res)
}

// controlsError turns the controls' validation problems into the admin
// API's.
func controlsError(err error) error {
	var ce *controls.Error
	if !errors.As(err, &ce) {
		return err
	}
	e := errorf(http.StatusBadRequest, CodeValidation, "The test controls are not valid.")
	for _, p := range ce.Problems {
		e.Problems = append(e.Problems, Problem{Path: p.Path, Message: p.Message})
	}
	return e
}

func controlsOut(st controls.Settings) Controls {
	out := Controls{Faults: []Fault{}, Quotas: QuotaControl{Enabled: st.Quotas.Enabled}}
	if st.Clock.Offset != 0 {
		out.Clock.Offset = st.Clock.Offset.String()
	}
	out.Clock.FrozenAt = st.Clock.Frozen
	for _, f := range st.Faults {
		wf := Fault{Operation: f.Operation, Account: f.Account, ThrottleRate: f.ThrottleRate,
			InternalErrorRate: f.InternalErrorRate, UnprocessedRate: f.UnprocessedRate}
		if f.Latency != 0 {
			wf.Latency = f.Latency.String()
		}
		out.Faults = append(out.Faults, wf)
	}
	if st.Quotas.Enabled {
		out.Quotas.PerSecond = map[string]float64{}
		for _, op := range controls.Operations {
			if r := st.Quotas.Rate(op); r > 0 {
				out.Quotas.PerSecond[op] = r
			}
		}
	}
	return out
}

func (in Controls) domain() (controls.Settings, error) {
	var st controls.Settings
	var err error
	if st.Clock, err = in.Clock.domain(); err != nil {
		return st, err
	}
	for i, f := range in.Faults {
		df, err := f.domain(fmt.Sprintf("faults[%d].", i))
		if err != nil {
			return st, err
		}
		st.Faults = append(st.Faults, df)
	}
	st.Quotas = controls.Quotas{Enabled: in.Quotas.Enabled, PerSecond: in.Quotas.PerSecond}
	return st, nil
}

func (in ClockControl) domain() (controls.ClockSetting, error) {
	clk := controls.ClockSetting{Frozen: in.FrozenAt}
	if in.Offset != "" {
		d, err := time.ParseDuration(in.Offset)
		if err != nil {
			return clk, problem("clock.offset", "%q is not a duration like -7h or 90m", in.Offset)
		}
		clk.Offset = d
	}
	return clk, nil
}

func (in Fault) domain(path string) (controls.Fault, error) {
	f := controls.Fault{Operation: in.Operation, Account: in.Account, ThrottleRate: in.ThrottleRate,
		InternalErrorRate: in.InternalErrorRate, UnprocessedRate: in.UnprocessedRate}
	if in.Latency != "" {
		d, err := time.ParseDuration(in.Latency)
		if err != nil {
			return f, problem(path+"latency", "%q is not a duration like 250ms", in.Latency)
		}
		f.Latency = d
	}
	return f, nil
}

func problem(path, format string, args ...any) error {
	return &controls.Error{Problems: []controls.Problem{{Path: path, Message: fmt.Sprintf(format, args...)}}}
}
