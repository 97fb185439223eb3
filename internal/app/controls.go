package app

import (
	"context"
	"net/http"

	"github.com/meterd/meterd/internal/adminapi"
	"github.com/meterd/meterd/internal/controls"
	"github.com/meterd/meterd/internal/statefile"
)

// loadStateFile loads the state file and applies its test controls. A
// file that moves the clock is read again, so that its registration
// tokens' ttl counts from the moved clock.
func loadStateFile(path string, ctl *controls.Controls) (*statefile.File, error) {
	file, err := statefile.Load(path, ctl.Now())
	if err != nil || file.Controls == nil {
		return file, err
	}
	if err := ctl.Set(*file.Controls); err != nil {
		return nil, err // Parse validated the controls already
	}
	if file.Controls.Clock.IsZero() {
		return file, nil
	}
	return statefile.Load(path, ctl.Now())
}

// reset wipes usage and, with reload, applies again the state meterd
// started with: the state file, read again, with its controls (none when
// it has no controls key), or the demo state.
func (a *App) reset(ctx context.Context, reload bool) (adminapi.ResetResult, error) {
	var res adminapi.ResetResult
	conflict := func(msg string) error {
		return &adminapi.Error{Status: http.StatusConflict, Code: adminapi.CodeConflict, Message: msg}
	}
	var file *statefile.File
	if reload {
		var err error
		switch {
		case a.stateFile != "":
			// Read first, so that a broken file leaves everything as it was.
			if file, err = statefile.Load(a.stateFile, a.Controls.Now()); err != nil {
				return res, conflict("Reloading the state file failed: " + err.Error())
			}
		case a.DemoLoaded:
		default:
			return res, conflict("meterd started without a state file (--state), so there is no state to reload; reset with state keep.")
		}
	}
	n, err := a.Service.WipeUsage(ctx)
	if err != nil {
		return res, err
	}
	res.RecordsDeleted = n
	if !reload {
		a.Controls.ResetCounters()
		return res, nil
	}
	settings := controls.Settings{}
	if file != nil && file.Controls != nil {
		settings = *file.Controls
	}
	if err := a.Controls.Set(settings); err != nil {
		return res, err
	}
	// Token ttls count from the clock the reloaded controls set.
	if file == nil {
		file = statefile.Demo(a.Controls.Now())
	} else if file, err = statefile.Load(a.stateFile, a.Controls.Now()); err != nil {
		return res, conflict("Reloading the state file failed: " + err.Error())
	}
	if err := a.Service.ApplyState(ctx, file.State); err != nil {
		return res, file.Explain(err)
	}
	res.StateReloaded = true
	a.logger.Info("reset: usage wiped, state reloaded", "records_deleted", n, "state_file", a.stateFile)
	return res, nil
}
