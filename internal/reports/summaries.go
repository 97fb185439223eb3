package reports

import (
	"context"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// Summaries reads reports from a metering.Store that keeps no rollups, by
// summing its UsageSummary rows: correct, but it reads every record in the
// range, so it is for stores without rollups (and tests), not for ten
// million records. It cannot group or filter by tag: UsageSummary does not
// return allocations.
type Summaries struct {
	Store metering.Store
}

var _ Store = Summaries{}

// ErrNoTags is returned for tag reports from a store without tag rollups.
var ErrNoTags = &QueryError{Message: "this store keeps no allocation tag rollups: reports by tag need a store with rollups"}

// UsageRollup implements Store.
func (s Summaries) UsageRollup(ctx context.Context, q RollupQuery, fn func(Sum)) error {
	if q.GroupBy.Tag || q.Tag != "" {
		return ErrNoTags
	}
	hours, err := s.Store.UsageSummary(ctx, metering.UsageFilter{
		ProductCode: q.ProductCode,
		Customer:    q.Customer,
		Dimension:   q.Dimension,
		From:        time.Unix(q.From, 0),
		To:          time.Unix(q.To, 0),
	})
	if err != nil {
		return err
	}
	sums := Fold(q, func(yield func(hour int64, s Sum)) {
		for _, h := range hours {
			yield(h.Hour.Unix(), Sum{
				ProductCode:       h.ProductCode,
				CustomerAccountID: h.CustomerAccountID,
				LicenseArn:        h.LicenseArn,
				Dimension:         h.Dimension,
				Quantity:          h.Quantity,
				Records:           h.Records,
			})
		}
	})
	for _, x := range sums {
		fn(x)
	}
	return nil
}

// Fold sums hourly figures into q's buckets and groups: each call of yield
// gives one hour's figure with all its keys set, and Fold keeps the keys q
// groups by. Stores that compute in Go (and tests) share it.
func Fold(q RollupQuery, hours func(yield func(hour int64, s Sum))) []Sum {
	type key struct {
		bucket                               int64
		product, customer, license, dim, tag string
	}
	index := map[key]int{}
	var out []Sum
	hours(func(hour int64, s Sum) {
		if hour < q.From || hour >= q.To {
			return
		}
		g := q.GroupBy
		k := key{bucket: q.BucketOf(hour)}
		if g.Product {
			k.product = s.ProductCode
		}
		if g.Customer {
			k.customer = s.CustomerAccountID
		}
		if g.License {
			k.license = s.LicenseArn
		}
		if g.Dimension {
			k.dim = s.Dimension
		}
		if g.Tag {
			k.tag = s.Tag
		}
		if i, ok := index[k]; ok {
			out[i].Quantity += s.Quantity
			out[i].Records += s.Records
			return
		}
		index[k] = len(out)
		out = append(out, Sum{
			Bucket: k.bucket, ProductCode: k.product, CustomerAccountID: k.customer,
			LicenseArn: k.license, Dimension: k.dim, Tag: k.tag,
			Quantity: s.Quantity, Records: s.Records,
		})
	})
	return out
}
