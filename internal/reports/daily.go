package reports

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// FeedColumns are the columns of the daily usage export. The first twenty
// are those of AWS Marketplace's Daily Usage data feed, in its order
// (docs.aws.amazon.com/marketplace/latest/userguide/data-feed-daily-usage),
// so that tools written for the feed read the export; the last three are
// meterd's own. Where meterd has no value the cell is empty:
//
//   - delete_date: rows are never deleted;
//   - agreement_id: meterd models no agreements (license_arn names the
//     Concurrent Agreements license);
//   - usage_unit, pricing_currency, estimated_revenue_in_pricing_currency,
//     usage_rate_per_unit_in_pricing_currency, charge_item_description:
//     meterd knows no prices or units.
//
// Two differ on purpose: end_user_account_id and payer_account_id are the
// customer's plain AWS account id, where AWS puts a per-seller salted hash
// (a self-hosted meterd's seller owns the data, and a hash would only make
// it harder to join), and usage_feed_id is a hash of the row's date and
// keys, stable from one export to the next.
var FeedColumns = []string{
	"valid_from", "insert_date", "update_date", "delete_date",
	"usage_feed_id", "usage_date", "product_id", "agreement_id",
	"end_user_account_id", "payer_account_id", "region", "dimension_key",
	"usage_unit", "usage_quantity", "pricing_currency",
	"estimated_revenue_in_pricing_currency", "recipient_account_id", "offer_id",
	"usage_rate_per_unit_in_pricing_currency", "charge_item_description",
	"customer_identifier", "license_arn", "records",
}

// FeedRow is one row of the daily usage export: one customer's usage of one
// dimension of one product on one UTC day.
type FeedRow struct {
	Generated          time.Time // insert_date and update_date
	Date               time.Time // midnight UTC of the usage date
	ProductCode        string
	CustomerAccountID  string
	CustomerIdentifier string
	LicenseArn         string
	Region             string
	Dimension          string
	Quantity           int64
	Seller             string
	OfferID            string
	Records            int64
}

// Values returns the row's cells in FeedColumns order.
func (r FeedRow) Values() []string {
	date := r.Date.Format(time.DateOnly)
	gen := r.Generated.UTC().Format(time.RFC3339)
	h := sha256.Sum256([]byte(date + "\x1f" + r.ProductCode + "\x1f" + r.CustomerAccountID + "\x1f" + r.LicenseArn + "\x1f" + r.Dimension))
	return []string{
		date, gen, gen, "",
		hex.EncodeToString(h[:16]), date, r.ProductCode, "",
		r.CustomerAccountID, r.CustomerAccountID, r.Region, r.Dimension,
		"", strconv.FormatInt(r.Quantity, 10), "",
		"", r.Seller, r.OfferID,
		"", "",
		r.CustomerIdentifier, r.LicenseArn, strconv.FormatInt(r.Records, 10),
	}
}

// Map returns the row as column name to cell, for JSON.
func (r FeedRow) Map() map[string]string {
	v := r.Values()
	m := make(map[string]string, len(v))
	for i, c := range FeedColumns {
		m[c] = v[i]
	}
	return m
}

// DailyFeed returns the export for the UTC day that starts at date's
// calendar date: usage by product, customer, license and dimension, with
// seller, offer and customer identifier from the catalog.
func (s *Service) DailyFeed(ctx context.Context, date time.Time, cat *metering.Catalog, region string, now time.Time) ([]FeedRow, error) {
	y, m, d := date.Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	rows, err := s.Usage(ctx, Query{
		From: day, To: day.AddDate(0, 0, 1), Window: Day,
		GroupBy: Group{Product: true, Customer: true, License: true, Dimension: true},
	})
	if err != nil {
		return nil, err
	}
	out := make([]FeedRow, 0, len(rows))
	for _, r := range rows {
		f := FeedRow{
			Generated: now, Date: day, ProductCode: r.ProductCode,
			CustomerAccountID: r.CustomerAccountID, LicenseArn: r.LicenseArn,
			Region: region, Dimension: r.Dimension, Quantity: r.Quantity, Records: r.Records,
		}
		if cat != nil {
			if p, ok := cat.Product(r.ProductCode); ok {
				f.Seller = p.Seller
			}
			if c, ok := cat.CustomerByAccount(r.ProductCode, r.CustomerAccountID); ok {
				f.CustomerIdentifier, f.OfferID = c.CustomerIdentifier, c.OfferID
			}
		}
		out = append(out, f)
	}
	return out, nil
}
