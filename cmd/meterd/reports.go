package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/meterd/meterd/internal/adminapi"
)

// The seller-visibility commands (report, audit, debug) read a running
// meterd's admin API like the admin commands, with the same flags.

const visibilityUsageText = `Seller visibility, through the admin API (--endpoint, --admin-token, --json):
  meterd report usage [--from T] [--to T] [--window hour|day|month] [--tz ZONE]
                      [--group-by customer,dimension] [--product P] [--customer C]
                      [--dimension D] [--tag key=value] [--csv]
                                      usage summed per window from the hourly rollups
  meterd report daily [--date YYYY-MM-DD] [--csv]
                                      one UTC day's usage, shaped like AWS's Daily Usage feed
  meterd audit lookup [--start-time T] [--end-time T] [--event-name N] [--event-source S]
                      [--account A] [--error-code C] [--max-results N] [--all]
                                      audit events (data plane and admin API), newest first
  meterd audit tail [--event-name N] [--account A] [--error-code C] ...
                                      follow audit events as calls happen
  meterd debug records --product P --customer C --hour T
                                      a customer's records and refused attempts in one hour, and why
`

func visibilityCommand(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	c := &adminCmd{ctx: ctx, name: name, stdout: stdout, stderr: stderr}
	switch name {
	case "report":
		return c.report(args)
	case "audit":
		return c.audit(args)
	default:
		return c.debug(args)
	}
}

// parseWhen reads a time flag: RFC 3339, or a date (midnight in loc).
func parseWhen(name, v string, loc *time.Location) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time (2026-11-23T05:00:00Z) or a date (2026-11-23)", name, v)
}

func (c *adminCmd) report(args []string) error {
	verb, args, err := c.verb(args, "usage", "daily")
	if err != nil {
		return err
	}
	fs := c.flags(verb)
	asCSV := fs.Bool("csv", false, "print CSV (RFC 4180) instead of a table")
	if verb == "daily" {
		date := fs.String("date", "", "the UTC date, YYYY-MM-DD (default yesterday)")
		if err := parse(fs, args); err != nil {
			return err
		}
		cl, err := c.client()
		if err != nil {
			return err
		}
		if *asCSV {
			data, err := cl.DailyUsageCSV(c.ctx, *date)
			if err != nil {
				return err
			}
			_, err = c.stdout.Write(data)
			return err
		}
		out, err := cl.DailyUsage(c.ctx, *date)
		if err != nil {
			return err
		}
		return c.print(out, func(tw *tabwriter.Writer) {
			fmt.Fprintln(tw, "DATE\tPRODUCT\tCUSTOMER\tIDENTIFIER\tDIMENSION\tQUANTITY\tRECORDS")
			for _, r := range out.Rows {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r["usage_date"], r["product_id"], r["end_user_account_id"],
					orDash(r["customer_identifier"]), r["dimension_key"], r["usage_quantity"], r["records"])
			}
		})
	}

	var q adminapi.UsageQuery
	from := fs.String("from", "", "start, RFC 3339 or a date in --tz (default: a day, 30 days or a year before --to)")
	to := fs.String("to", "", "end, exclusive (default: the end of the current hour)")
	fs.StringVar(&q.Window, "window", "hour", "window: hour, day or month")
	fs.StringVar(&q.TZ, "tz", "UTC", "IANA time zone of the windows, such as America/New_York")
	groupBy := fs.String("group-by", "", "comma-separated keys: product, customer, license, dimension, tag")
	fs.StringVar(&q.Product, "product", "", "only this product code")
	fs.StringVar(&q.Customer, "customer", "", "only this customer: account id, customer identifier or license ARN")
	fs.StringVar(&q.Dimension, "dimension", "", "only this dimension")
	fs.StringVar(&q.Tag, "tag", "", "only usage allocated to this tag, key=value")
	if err := parse(fs, args); err != nil {
		return err
	}
	loc, err := time.LoadLocation(q.TZ)
	if err != nil {
		return fmt.Errorf("--tz %q: %w", q.TZ, err)
	}
	if q.From, err = parseWhen("from", *from, loc); err != nil {
		return err
	}
	if q.To, err = parseWhen("to", *to, loc); err != nil {
		return err
	}
	q.GroupBy = splitList(*groupBy)
	cl, err := c.client()
	if err != nil {
		return err
	}
	if *asCSV {
		data, err := cl.UsageReportCSV(c.ctx, q)
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(data)
		return err
	}
	rep, err := cl.UsageReport(c.ctx, q)
	if err != nil {
		return err
	}
	return c.print(rep, func(tw *tabwriter.Writer) {
		head := []string{"WINDOW (" + rep.TZ + ")"}
		for _, k := range rep.GroupBy {
			head = append(head, strings.ToUpper(k))
		}
		fmt.Fprintln(tw, strings.Join(append(head, "QUANTITY", "RECORDS"), "\t"))
		layout := map[string]string{"hour": "2006-01-02 15:04", "day": "2006-01-02", "month": "2006-01"}[rep.Window]
		for _, r := range rep.Rows {
			cells := []string{r.WindowStart.Format(layout)}
			for _, v := range []*string{r.ProductCode, r.Customer, r.LicenseArn, r.Dimension, r.Tag} {
				if v != nil {
					cells = append(cells, orDash(*v))
				}
			}
			cells = append(cells, fmt.Sprint(r.Quantity), fmt.Sprint(r.Records))
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	})
}
