package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/meterd/meterd/internal/adminapi"
	"github.com/meterd/meterd/internal/audit"
)

// auditFlags adds the event filters to fs.
func auditFlags(fs *flag.FlagSet, f *adminapi.AuditFilter) {
	fs.StringVar(&f.EventName, "event-name", "", "only this eventName (MeterUsage, BatchMeterUsage, PutProduct, ...)")
	fs.StringVar(&f.EventSource, "event-source", "", "only this eventSource: "+audit.SourceMetering+", "+audit.SourceEntitlement+" or "+audit.SourceAdmin)
	fs.StringVar(&f.Account, "account", "", "only calls made as this AWS account id")
	fs.StringVar(&f.AccessKeyID, "access-key-id", "", "only calls signed with this access key")
	fs.StringVar(&f.ErrorCode, "error-code", "", "only calls that failed with this error code")
}

func (c *adminCmd) audit(args []string) error {
	verb, args, err := c.verb(args, "lookup", "tail")
	if err != nil {
		return err
	}
	fs := c.flags(verb)
	var f adminapi.AuditFilter
	auditFlags(fs, &f)
	if verb == "tail" {
		if err := parse(fs, args); err != nil {
			return err
		}
		cl, err := c.client()
		if err != nil {
			return err
		}
		enc := json.NewEncoder(c.stdout)
		err = cl.StreamEvents(c.ctx, f, func(ev audit.Event) error {
			if c.json {
				return enc.Encode(ev)
			}
			_, err := fmt.Fprintln(c.stdout, eventLine(ev))
			return err
		})
		if errors.Is(err, c.ctx.Err()) {
			return nil // interrupted: the normal end of a tail
		}
		return err
	}
	start := fs.String("start-time", "", "only events at or after this time, RFC 3339 or a UTC date")
	end := fs.String("end-time", "", "only events at or before this time")
	fs.IntVar(&f.MaxResults, "max-results", 0, "events per page, 1 to 50 (default 50)")
	fs.StringVar(&f.NextToken, "next-token", "", "the page after the one that printed this token")
	all := fs.Bool("all", false, "follow NextToken to the last page")
	if err := parse(fs, args); err != nil {
		return err
	}
	if f.StartTime, err = parseWhen("start-time", *start, time.UTC); err != nil {
		return err
	}
	if f.EndTime, err = parseWhen("end-time", *end, time.UTC); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	var out adminapi.AuditEvents
	for {
		page, err := cl.AuditEvents(c.ctx, f)
		if err != nil {
			return err
		}
		out.Events = append(out.Events, page.Events...)
		out.NextToken = page.NextToken
		if !*all || page.NextToken == "" {
			break
		}
		f.NextToken = page.NextToken
	}
	if out.Events == nil {
		out.Events = []audit.Event{}
	}
	err = c.print(out, func(tw *tabwriter.Writer) {
		fmt.Fprintln(tw, "TIME (UTC)\tSOURCE\tEVENT\tACCOUNT\tACCESS KEY\tERROR\tREQUEST ID")
		for _, e := range out.Events {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.EventTime.UTC().Format("2006-01-02 15:04:05.000"), shortSource(e.EventSource),
				e.EventName, orDash(e.UserIdentity.AccountID), orDash(e.UserIdentity.AccessKeyID), orDash(e.ErrorCode), e.RequestID)
		}
	})
	if err == nil && !c.json && out.NextToken != "" {
		fmt.Fprintf(c.stderr, "more events: --next-token %s (or --all)\n", out.NextToken)
	}
	return err
}

// shortSource is an event source without its AWS domain.
func shortSource(s string) string {
	switch s {
	case audit.SourceMetering:
		return "metering"
	case audit.SourceEntitlement:
		return "entitlement"
	case audit.SourceAdmin:
		return "admin"
	}
	return s
}

// eventLine is one line of audit tail.
func eventLine(e audit.Event) string {
	line := fmt.Sprintf("%s %-11s %-20s %s", e.EventTime.UTC().Format("15:04:05.000"), shortSource(e.EventSource), e.EventName, orDash(e.UserIdentity.AccountID))
	if e.ErrorCode != "" {
		line += " " + e.ErrorCode + ": " + e.ErrorMessage
	}
	return line
}
