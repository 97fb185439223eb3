package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// debug records: what a customer's hour of usage holds, and why the rest
// was refused.
func (c *adminCmd) debug(args []string) error {
	verb, args, err := c.verb(args, "records")
	if err != nil {
		return err
	}
	fs := c.flags(verb)
	product := fs.String("product", "", "product code (required)")
	customer := fs.String("customer", "", "account id, customer identifier or license ARN (required)")
	hourFlag := fs.String("hour", "", "a time in the hour, RFC 3339 (required)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *product == "" || *customer == "" || *hourFlag == "" {
		return fmt.Errorf("debug records: --product, --customer and --hour are required")
	}
	hour, err := parseWhen("hour", *hourFlag, time.UTC)
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	out, err := cl.DebugRecords(c.ctx, *product, *customer, hour)
	if err != nil {
		return err
	}
	return c.print(out, func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "Records of %s for %s in the hour from %s UTC: %d\n", out.Product, out.Customer, out.Hour.Format("2006-01-02 15:04"), len(out.Records))
		if len(out.Records) > 0 {
			fmt.Fprintln(tw, "RECORD\tTIMESTAMP\tDIMENSION\tQUANTITY\tOPERATION\tIDENTITY\tMETERED AT")
			for _, r := range out.Records {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, utc(r.Timestamp), r.Dimension, r.Quantity, r.Operation, r.Identity, utc(r.MeteredAt))
			}
		}
		fmt.Fprintf(tw, "\nAttempts not stored: %d\n", len(out.Attempts))
		if len(out.Attempts) > 0 {
			fmt.Fprintln(tw, "TIME\tOPERATION\tREQUEST ID\tRECORD#\tDIMENSION\tQUANTITY\tSTATUS\tREASON")
			for _, a := range out.Attempts {
				index := "-"
				if a.Index > 0 {
					index = fmt.Sprint(a.Index)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", utc(a.Time), a.Operation, a.RequestID, index, a.Dimension, a.Quantity, a.Status,
					strings.ReplaceAll(a.Reason, "\t", " "))
			}
		}
	})
}
