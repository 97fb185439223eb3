package adminapi

import "context"

// Controls returns the test controls.
func (c *Client) Controls(ctx context.Context) (Controls, error) {
	var out Controls
	return out, c.do(ctx, "GET", Prefix+"/controls", nil, nil, &out)
}

// PutControls replaces all test controls.
func (c *Client) PutControls(ctx context.Context, in Controls) (Controls, error) {
	var out Controls
	return out, c.do(ctx, "PUT", Prefix+"/controls", nil, in, &out)
}

// ClearControls turns every test control off.
func (c *Client) ClearControls(ctx context.Context) (Controls, error) {
	var out Controls
	return out, c.do(ctx, "DELETE", Prefix+"/controls", nil, nil, &out)
}

// SetClock moves the metering clock; the zero ClockControl is the real
// clock.
func (c *Client) SetClock(ctx context.Context, in ClockControl) (Controls, error) {
	var out Controls
	return out, c.do(ctx, "PUT", Prefix+"/controls/clock", nil, in, &out)
}

// AddFault adds a fault.
func (c *Client) AddFault(ctx context.Context, in Fault) (Controls, error) {
	var out Controls
	return out, c.do(ctx, "POST", Prefix+"/controls/faults", nil, in, &out)
}

// ClearFaults removes every fault.
func (c *Client) ClearFaults(ctx context.Context) (Controls, error) {
	var out Controls
	return out, c.do(ctx, "DELETE", Prefix+"/controls/faults", nil, nil, &out)
}

// SetQuotas turns AWS's per-account quotas on or off.
func (c *Client) SetQuotas(ctx context.Context, in QuotaControl) (Controls, error) {
	var out Controls
	return out, c.do(ctx, "PUT", Prefix+"/controls/quotas", nil, in, &out)
}

// Reset wipes usage; with reload it applies the starting state again.
func (c *Client) Reset(ctx context.Context, reload bool) (ResetResult, error) {
	in := ResetRequest{State: "keep"}
	if reload {
		in.State = "reload"
	}
	var out ResetResult
	return out, c.do(ctx, "POST", Prefix+"/reset", nil, in, &out)
}
