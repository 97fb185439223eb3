package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meterd/meterd/internal/adminapi"
)

// The test-control subcommands (controls, reset) call a running meterd's
// admin API like the admin subcommands do.

const controlsUsageText = `Test controls of a running meterd (--endpoint, --admin-token, --json); they last until changed or meterd stops:
  meterd controls show                show the clock, faults and quotas
  meterd controls clock --offset -7h | --freeze TIME | --freeze-now | --real
                                      move the clock the metering rules read (SigV4 keeps real time)
  meterd controls fault [--operation OP] [--account ID] [--throttle-rate R] [--internal-error-rate R]
                        [--latency D] [--unprocessed-rate R]
                                      add a fault (rates are fractions of the matching calls or records)
  meterd controls clear-faults        remove every fault
  meterd controls quotas on|off [--rate OP=N ...]
                                      AWS's per-account quotas: BatchMeterUsage 10/s, MeterUsage 10/s, RegisterUsage 5/s
  meterd controls clear               real clock, no faults, no quotas
  meterd reset [--reload-state]       wipe usage records and registrations; --reload-state applies the start state again
`

// controlsVerbs maps each "meterd controls" verb to what runs it.
var controlsVerbs = map[string]func(c *adminCmd, cl func() (*adminapi.Client, error), args []string) error{
	"show":         (*adminCmd).controlsShow,
	"clock":        (*adminCmd).controlsClock,
	"fault":        (*adminCmd).controlsFault,
	"clear-faults": (*adminCmd).controlsClearFaults,
	"quotas":       (*adminCmd).controlsQuotas,
	"clear":        (*adminCmd).controlsClear,
}

func controlsCommand(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	c := &adminCmd{ctx: ctx, name: name, stdout: stdout, stderr: stderr}
	if name == "reset" {
		return c.reset(args)
	}
	verbs := make([]string, 0, len(controlsVerbs))
	for v := range controlsVerbs {
		verbs = append(verbs, v)
	}
	slices.Sort(verbs)
	verb, args, err := c.verb(args, verbs...)
	if err != nil {
		return err
	}
	c.name += " " + verb
	return controlsVerbs[verb](c, c.client, args)
}

func (c *adminCmd) controlsShow(client func() (*adminapi.Client, error), args []string) error {
	if err := parse(c.flags(""), args); err != nil {
		return err
	}
	cl, err := client()
	if err != nil {
		return err
	}
	return c.printControls(cl.Controls(c.ctx))
}

func (c *adminCmd) controlsClock(client func() (*adminapi.Client, error), args []string) error {
	fs := c.flags("")
	offset := fs.String("offset", "", "run the clock this far from real time, e.g. -7h")
	freeze := fs.String("freeze", "", "stop the clock at this time (RFC 3339, e.g. 2026-01-31T23:30:00Z)")
	freezeNow := fs.Bool("freeze-now", false, "stop the clock at the time it shows now")
	realClock := fs.Bool("real", false, "back to the real clock")
	if err := parse(fs, args); err != nil {
		return err
	}
	n := 0
	for _, set := range []bool{*offset != "", *freeze != "", *freezeNow, *realClock} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf("controls clock: give one of --offset, --freeze, --freeze-now, --real")
	}
	cl, err := client()
	if err != nil {
		return err
	}
	var in adminapi.ClockControl
	switch {
	case *offset != "":
		in.Offset = *offset
	case *freeze != "":
		if in.FrozenAt, err = time.Parse(time.RFC3339, *freeze); err != nil {
			return fmt.Errorf("--freeze: %q is not an RFC 3339 time like 2026-01-31T23:30:00Z", *freeze)
		}
	case *freezeNow:
		cur, err := cl.Controls(c.ctx)
		if err != nil {
			return err
		}
		in.FrozenAt = cur.Now
	}
	return c.printControls(cl.SetClock(c.ctx, in))
}

func (c *adminCmd) controlsFault(client func() (*adminapi.Client, error), args []string) error {
	fs := c.flags("")
	var f adminapi.Fault
	fs.StringVar(&f.Operation, "operation", "", "only this operation: MeterUsage, BatchMeterUsage, RegisterUsage, ResolveCustomer, GetEntitlements (default all)")
	fs.StringVar(&f.Account, "account", "", "only calls made as this account (default all)")
	fs.Float64Var(&f.ThrottleRate, "throttle-rate", 0, "fraction of calls answered ThrottlingException")
	fs.Float64Var(&f.InternalErrorRate, "internal-error-rate", 0, "fraction of calls answered InternalServiceErrorException")
	fs.StringVar(&f.Latency, "latency", "", "added to every matching call, e.g. 250ms")
	fs.Float64Var(&f.UnprocessedRate, "unprocessed-rate", 0, "fraction of BatchMeterUsage records returned in UnprocessedRecords, not stored")
	if err := parse(fs, args); err != nil {
		return err
	}
	cl, err := client()
	if err != nil {
		return err
	}
	return c.printControls(cl.AddFault(c.ctx, f))
}

func (c *adminCmd) controlsClearFaults(client func() (*adminapi.Client, error), args []string) error {
	if err := parse(c.flags(""), args); err != nil {
		return err
	}
	cl, err := client()
	if err != nil {
		return err
	}
	return c.printControls(cl.ClearFaults(c.ctx))
}

func (c *adminCmd) controlsQuotas(client func() (*adminapi.Client, error), args []string) error {
	onOff, args, err := c.verb(args, "on", "off")
	if err != nil {
		return err
	}
	fs := c.flags(onOff)
	var rates stringList
	fs.Var(&rates, "rate", "OP=N: allow N calls per second per account of OP instead of AWS's rate (repeatable)")
	if err := parse(fs, args); err != nil {
		return err
	}
	in := adminapi.QuotaControl{Enabled: onOff == "on"}
	for _, r := range rates {
		op, n, ok := strings.Cut(r, "=")
		x, err := strconv.ParseFloat(n, 64)
		if !ok || err != nil {
			return fmt.Errorf("--rate %q: want OPERATION=CALLS_PER_SECOND, e.g. MeterUsage=2", r)
		}
		if in.PerSecond == nil {
			in.PerSecond = map[string]float64{}
		}
		in.PerSecond[op] = x
	}
	cl, err := client()
	if err != nil {
		return err
	}
	return c.printControls(cl.SetQuotas(c.ctx, in))
}

func (c *adminCmd) controlsClear(client func() (*adminapi.Client, error), args []string) error {
	if err := parse(c.flags(""), args); err != nil {
		return err
	}
	cl, err := client()
	if err != nil {
		return err
	}
	return c.printControls(cl.ClearControls(c.ctx))
}

func (c *adminCmd) reset(args []string) error {
	fs := c.flags("")
	reload := fs.Bool("reload-state", false, "apply again the state meterd started with (its --state file, read again, or the demo state) and that file's controls")
	if err := parse(fs, args); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	res, err := cl.Reset(c.ctx, *reload)
	if err != nil {
		return err
	}
	return c.print(res, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "reset: %d usage records deleted", res.RecordsDeleted)
		if res.StateReloaded {
			fmt.Fprint(tw, ", state reloaded")
		}
		fmt.Fprintln(tw)
	})
}

// printControls prints the controls an admin call answered.
func (c *adminCmd) printControls(ctl adminapi.Controls, err error) error {
	if err != nil {
		return err
	}
	return c.print(ctl, func(tw *tabwriter.Writer) {
		clock := "real"
		switch {
		case !ctl.Clock.FrozenAt.IsZero():
			clock = "frozen"
		case ctl.Clock.Offset != "":
			clock = "offset " + ctl.Clock.Offset
		}
		fmt.Fprintf(tw, "clock:\t%s, now %s (real %s)\n", clock, utc(ctl.Now), utc(ctl.RealTime))
		quotas := "off"
		if ctl.Quotas.Enabled {
			var rs []string
			for _, op := range slices.Sorted(maps.Keys(ctl.Quotas.PerSecond)) {
				rs = append(rs, fmt.Sprintf("%s %v/s", op, ctl.Quotas.PerSecond[op]))
			}
			quotas = "on, per account: " + strings.Join(rs, ", ")
		}
		fmt.Fprintf(tw, "quotas:\t%s\n", quotas)
		if len(ctl.Faults) == 0 {
			fmt.Fprintln(tw, "faults:\tnone")
			return
		}
		fmt.Fprintln(tw, "\nOPERATION\tACCOUNT\tTHROTTLE\tINTERNAL ERROR\tLATENCY\tUNPROCESSED")
		for _, f := range ctl.Faults {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%v\n", orAll(f.Operation), orAll(f.Account), f.ThrottleRate, f.InternalErrorRate, orDash(f.Latency), f.UnprocessedRate)
		}
	})
}

func orAll(s string) string {
	if s == "" {
		return "*"
	}
	return s
}
