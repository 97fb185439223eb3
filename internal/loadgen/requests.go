package loadgen

import (
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/meterd/meterd/internal/jsonappend"
)

// MaxHours is how many distinct hours, counting back from now, records may
// use under AWS's documented windows: MeterUsage accepts timestamps up to 6
// hours old, BatchMeterUsage up to 24 hours old but none from last month
// after 06:00 UTC on the 1st. Records use now, now-1h, …, now-(n-1)h, which
// stay inside a window of n hours for as long as a request takes.
func MaxHours(op Operation, now time.Time) int {
	if op == OpMeter {
		return 6
	}
	now = now.UTC()
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	since := now.Sub(monthStart)
	if since < 6*time.Hour {
		return 24 // last month is still open
	}
	return min(24, int(since/time.Hour)+1)
}

// body returns slot k's request body. Records are numbered across the run
// (slot k of a batch run carries records k*N … k*N+N-1) and record r maps
// to a customer, dimension and hour so that consecutive records differ in
// customer first, then dimension, then hour: a run writes
// customers × dimensions × hours distinct records before any repeats. A
// repeat carries the same quantity as the first, so the service answers it
// as an idempotent retry, not as a conflicting duplicate.
func (g *generator) body(k int64, now time.Time) []byte {
	cfg := &g.cfg
	dims := int64(len(cfg.Dimensions))
	hours := int64(g.hours)
	b := make([]byte, 0, 256)
	if cfg.Operation == OpMeter {
		// Each credential is one workload, with its own sequence of
		// (dimension, hour) keys: an EC2 workload meters once per product,
		// dimension and hour. An AgentCore workload keys on the ClientToken
		// instead, so the fresh token makes every request a new record.
		j := k / int64(len(cfg.Credentials))
		d, h := j%dims, j/dims%hours
		b = append(b, `{"ProductCode":`...)
		b = jsonappend.String(b, cfg.ProductCode)
		b = append(b, `,"Timestamp":`...)
		b = strconv.AppendInt(b, now.Add(-time.Duration(h)*time.Hour).Unix(), 10)
		b = append(b, `,"UsageDimension":`...)
		b = jsonappend.String(b, cfg.Dimensions[d])
		b = append(b, `,"UsageQuantity":`...)
		b = strconv.AppendInt(b, Quantity(0, d), 10)
		b = append(b, `,"ClientToken":"`...)
		b = append(b, uuid.NewString()...)
		return append(b, `"}`...)
	}
	customers := int64(len(cfg.Customers))
	n := int64(cfg.RecordsPerRequest)
	b = make([]byte, 0, 64+n*128)
	b = append(b, `{"ProductCode":`...)
	b = jsonappend.String(b, cfg.ProductCode)
	b = append(b, `,"UsageRecords":[`...)
	for r := k * n; r < (k+1)*n; r++ {
		c, rest := r%customers, r/customers
		d, h := rest%dims, rest/dims%hours
		if r > k*n {
			b = append(b, ',')
		}
		b = append(b, `{"CustomerIdentifier":`...)
		b = jsonappend.String(b, cfg.Customers[c])
		b = append(b, `,"Dimension":`...)
		b = jsonappend.String(b, cfg.Dimensions[d])
		b = append(b, `,"Quantity":`...)
		b = strconv.AppendInt(b, Quantity(c, d), 10)
		b = append(b, `,"Timestamp":`...)
		b = strconv.AppendInt(b, now.Add(-time.Duration(h)*time.Hour).Unix(), 10)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// Quantity is the quantity of every record of a customer and dimension
// (their indexes): it depends on nothing else, so that a repeated key
// carries the same quantity and is an idempotent retry.
func Quantity(customer, dimension int64) int64 { return 1 + (customer+dimension)%7 }
