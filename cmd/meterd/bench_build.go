package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meterd/meterd/internal/app"
	"github.com/meterd/meterd/internal/loadgen"
	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/statefile"
)

// saasCustomers is the fixture's SaaS customers as the state file's loader
// makes them, to be applied through the service: a state file of a million
// customers is past the loader's bound on the nodes it visits.
func saasCustomers(f loadgen.Fixture) []metering.Customer {
	var cs []metering.Customer
	for _, c := range f.SaaSCustomers() {
		cs = append(cs, metering.Customer{Product: loadgen.SaaSProduct, AccountID: c.AccountID, CustomerIdentifier: c.Identifier, Status: metering.StatusSubscribed})
	}
	return cs
}

// openMeterd starts meterd in this process with cfg and the fixture's
// state: the state file holds everything but the SaaS customers, which go
// through the service afterwards. Replicas on a database that already
// holds the customers pass withCustomers false.
func openMeterd(ctx context.Context, cfg app.Config, f loadgen.Fixture, withCustomers bool) (*app.App, error) {
	a, err := app.Open(ctx, cfg)
	if err != nil || !withCustomers {
		return a, err
	}
	if err := a.Service.ApplyState(ctx, metering.State{Customers: saasCustomers(f)}); err != nil {
		a.Close()
		return nil, fmt.Errorf("apply %d customers: %w", f.Customers, err)
	}
	return a, nil
}

// writeBaseState writes the fixture's state file without the SaaS
// customers into dir.
func writeBaseState(dir string, f loadgen.Fixture) (string, error) {
	path := filepath.Join(dir, "state.yaml")
	return path, os.WriteFile(path, f.BaseStateYAML(), 0o600)
}

// builder fills a database with the fixture's state and BatchMeterUsage
// records, for the runs that need many records stored first. Records go
// through metering.Service.BatchMeterUsage into the store that app opens,
// so that they are stored exactly as a running meterd stores them, every
// derived table and index included, without the HTTP, signing and audit
// work of the requests: that is what makes 10 million records take
// minutes, not an hour. The audit log of those calls is not built.
//
// Records are numbered as the load generator numbers them (customers
// fastest, then dimensions, then hours), but their hours run forward from
// start, one hour after another as time passes for a real seller; the
// service's clock is set to the end of each hour as it is written, so
// that the time-window rules accept the records.
type builder struct {
	path  string
	f     loadgen.Fixture
	start time.Time
	// stored is the number of records the database holds, from 0.
	stored int64
	// time is how long building took, state included.
	time time.Duration
}

// buildWorkers is the number of concurrent callers: enough for group
// commits of thousands of records.
const buildWorkers = 128

// buildStart is the first hour of records for a builder that will write
// up to maxRecords: far enough back that the last one is older than the
// 24 hours in which the load generator writes its records.
func buildStart(now time.Time, f loadgen.Fixture, maxRecords int64) time.Time {
	perHour := int64(f.Customers) * int64(f.Dimensions)
	hours := (maxRecords + perHour - 1) / perHour
	return now.UTC().Truncate(time.Hour).Add(-time.Duration(hours+25) * time.Hour)
}

// newBuilder creates the database at path with the fixture's state.
func newBuilder(ctx context.Context, path string, f loadgen.Fixture, start time.Time) (*builder, error) {
	b := &builder{path: path, f: f, start: start}
	t0 := time.Now()
	err := b.withService(ctx, func(svc *metering.Service, _ *buildClock) error {
		file, err := statefile.Parse("bench state", f.BaseStateYAML(), time.Now())
		if err != nil {
			return err
		}
		if err := svc.ApplyState(ctx, file.State); err != nil {
			return file.Explain(err)
		}
		return svc.ApplyState(ctx, metering.State{Customers: saasCustomers(f)})
	})
	b.time += time.Since(t0)
	return b, err
}

// buildClock is the service's clock while building: the end of the hour
// being written.
type buildClock struct{ now atomic.Int64 }

func (c *buildClock) Now() time.Time  { return time.Unix(0, c.now.Load()).UTC() }
func (c *buildClock) set(t time.Time) { c.now.Store(t.UnixNano()) }

// hour is the hour of record r: every customer meters every dimension
// once an hour.
func (b *builder) hour(r int64) time.Time {
	return b.start.Add(time.Duration(r/b.perHour()) * time.Hour)
}

func (b *builder) perHour() int64 { return int64(b.f.Customers) * int64(b.f.Dimensions) }

// withService runs fn with a service on the database, whose clock fn
// moves, and closes the store after it: the store's Close checkpoints,
// so the files measured afterwards are whole.
func (b *builder) withService(ctx context.Context, fn func(*metering.Service, *buildClock) error) error {
	store, err := app.OpenStore(ctx, b.path)
	if err != nil {
		return err
	}
	clock := &buildClock{}
	clock.set(time.Now())
	svc, err := metering.NewService(ctx, metering.Options{Store: store, Clock: clock}, metering.Config{})
	if err == nil {
		err = fn(svc, clock)
	}
	return errors.Join(err, store.Close())
}

// grow stores records until the database holds total, reporting progress
// to w about every ten seconds.
func (b *builder) grow(ctx context.Context, total int64, w io.Writer) error {
	if total <= b.stored {
		return nil
	}
	t0 := time.Now()
	defer func() { b.time += time.Since(t0) }()
	return b.withService(ctx, func(svc *metering.Service, clock *buildClock) error {
		seller := b.f.SellerCredentials()[0].AccessKeyID
		caller, ok := svc.Caller(seller, loadgen.DefaultRegion)
		if !ok {
			return fmt.Errorf("no seller key %s in the database", seller)
		}
		ids, dims := b.f.CustomerIdentifiers(), b.f.DimensionNames()
		product := loadgen.SaaSProduct
		perHour, per := b.perHour(), int64(loadgen.DefaultRecordsPerRequest)
		from, last := b.stored, time.Now()
		for b.stored < total {
			// One hour at a time, so that the clock can move with it.
			end := min(total, (b.stored/perHour+1)*perHour)
			hour := b.hour(b.stored)
			clock.set(hour.Add(time.Hour))
			var next atomic.Int64
			next.Store(b.stored)
			var wg sync.WaitGroup
			errs := make([]error, buildWorkers)
			for i := range buildWorkers {
				wg.Go(func() {
					in := metering.BatchMeterUsageInput{ProductCode: &product}
					for ctx.Err() == nil {
						r0 := next.Add(per) - per
						if r0 >= end {
							return
						}
						in.UsageRecords = in.UsageRecords[:0]
						for r := r0; r < min(r0+per, end); r++ {
							c, rest := r%int64(len(ids)), r/int64(len(ids))
							d := rest % int64(len(dims))
							ts := hour.Add(time.Duration(r%3600) * time.Second)
							q := loadgen.Quantity(c, d)
							in.UsageRecords = append(in.UsageRecords, metering.UsageRecordInput{
								Timestamp: &ts, CustomerIdentifier: &ids[c], Dimension: &dims[d], Quantity: &q})
						}
						out, err := svc.BatchMeterUsage(ctx, caller, in)
						if err == nil {
							for _, res := range out.Results {
								if res.Status != metering.StatusSuccess {
									err = fmt.Errorf("record %d: status %s", r0+int64(res.Index), res.Status)
									break
								}
							}
						}
						if err != nil {
							errs[i] = err
							return
						}
					}
				})
			}
			wg.Wait()
			if err := errors.Join(append(errs, ctx.Err())...); err != nil {
				return fmt.Errorf("store records: %w", err)
			}
			b.stored = end
			if w != nil && (time.Since(last) > 10*time.Second || b.stored == total) {
				last = time.Now()
				el := time.Since(t0)
				fmt.Fprintf(w, "bench: %d of %d records stored (%.0f records/s)\n", b.stored, total, float64(b.stored-from)/el.Seconds())
			}
		}
		return nil
	})
}
