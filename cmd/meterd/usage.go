package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/meterd/meterd/internal/app"
	"github.com/meterd/meterd/internal/metering"
)

func usage(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("usage", stdout)
	database := fs.String("database", envDefault("database", "meterd.db"), "SQLite database file ($METERD_DATABASE)")
	var f metering.UsageFilter
	fs.StringVar(&f.ProductCode, "product", "", "only this product code")
	fs.StringVar(&f.Customer, "customer", "", "only this customer: account id, customer identifier or license ARN")
	fs.StringVar(&f.Dimension, "dimension", "", "only this dimension")
	from := fs.String("from", "", "first hour, RFC 3339 (e.g. 2026-11-23T00:00:00Z)")
	to := fs.String("to", "", "end hour, exclusive, RFC 3339")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	for _, t := range []struct {
		text string
		dst  *time.Time
		name string
	}{{*from, &f.From, "from"}, {*to, &f.To, "to"}} {
		if t.text == "" {
			continue
		}
		if *t.dst, err = time.Parse(time.RFC3339, t.text); err != nil {
			return fmt.Errorf("--%s: %w", t.name, err)
		}
	}

	store, err := app.OpenStore(ctx, *database)
	if err != nil {
		return err
	}
	defer store.Close()
	rows, err := store.UsageSummary(ctx, f)
	if err != nil {
		return err
	}
	if *asJSON {
		type row struct {
			Hour               time.Time `json:"hour"`
			ProductCode        string    `json:"product_code"`
			CustomerAccountID  string    `json:"customer_aws_account_id,omitempty"`
			CustomerIdentifier string    `json:"customer_identifier,omitempty"`
			LicenseArn         string    `json:"license_arn,omitempty"`
			Dimension          string    `json:"dimension"`
			Quantity           int64     `json:"quantity"`
			Records            int64     `json:"records"`
		}
		out := make([]row, len(rows))
		for i, r := range rows {
			out[i] = row{r.Hour.UTC(), r.ProductCode, r.CustomerAccountID, r.CustomerIdentifier, r.LicenseArn, r.Dimension, r.Quantity, r.Records}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOUR (UTC)\tPRODUCT\tCUSTOMER\tDIMENSION\tQUANTITY\tRECORDS")
	for _, r := range rows {
		customer := r.CustomerAccountID
		if r.CustomerIdentifier != "" {
			customer += " (" + r.CustomerIdentifier + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", r.Hour.UTC().Format("2006-01-02 15:00"), r.ProductCode, customer, r.Dimension, strconv.FormatInt(r.Quantity, 10), r.Records)
	}
	return tw.Flush()
}
