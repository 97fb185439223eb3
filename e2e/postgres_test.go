package e2e

// End to end on PostgreSQL: meterd replicas sharing one database, driven by
// the Go SDK. The cluster comes from internal/pgtest; without PostgreSQL the
// tests skip, unless METERD_TEST_POSTGRES=1 (CI) makes that a failure.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"
	"github.com/jackc/pgx/v5"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/pgtest"
)

// TestMain stops the test binary's shared PostgreSQL cluster, if a test
// started one.
func TestMain(m *testing.M) { pgtest.Main(m) }

// startReplicas runs n meterds (app.Open) on one new PostgreSQL database
// and returns them with the database's DSN.
func startReplicas(t *testing.T, n int) ([]*server, string) {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	rs := make([]*server, n)
	for i := range rs {
		rs[i] = start(t, serverOpts{db: dsn})
	}
	return rs, dsn
}

// pgQuery runs q on the database at dsn and returns its rows as strings.
func pgQuery(t *testing.T, dsn, q string, args ...any) [][]string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(t.Context(), q, args...)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) ([]string, error) {
		vals, err := row.Values()
		s := make([]string, len(vals))
		for i, v := range vals {
			s[i] = fmt.Sprint(v)
		}
		return s, err
	})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// TestReplicasMeterUsageStorm sends one MeterUsage record through two
// replicas at once, many times over: one record, one MeteringRecordId.
func TestReplicasMeterUsageStorm(t *testing.T) {
	rs, dsn := startReplicas(t, 2)
	ts := rs[0].clock.Now()
	const callers = 40
	ids := make([]string, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		c := rs[i%2].client(buyerKey)
		wg.Go(func() {
			<-start
			out, err := c.MeterUsage(ctx, meterInput("ami-1", "hours", ts, 2))
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			ids[i] = aws.ToString(out.MeteringRecordId)
		})
	}
	close(start)
	wg.Wait()
	for i, id := range ids {
		if id == "" || id != ids[0] {
			t.Fatalf("caller %d got MeteringRecordId %q, caller 0 got %q", i, id, ids[0])
		}
	}
	for i, r := range rs {
		if n := r.records(t, metering.UsageFilter{}); n != 1 {
			t.Errorf("replica %d sees %d records, want 1", i, n)
		}
	}
	if rows := pgQuery(t, dsn, `SELECT id FROM usage_records`); len(rows) != 1 || rows[0][0] != ids[0] {
		t.Errorf("usage_records holds %v, want one record %s", rows, ids[0])
	}
}

// TestReplicasBatchStorm sends one BatchMeterUsage call through two
// replicas at once, many times over: every caller gets the same
// MeteringRecordIds and each record is stored once. Then two versions of
// one record race: the first write wins on every replica, the other gets
// DuplicateRecord.
func TestReplicasBatchStorm(t *testing.T) {
	rs, _ := startReplicas(t, 2)
	now := rs[0].clock.Now()
	in := batch("saas-both",
		usage(now, "users", 3, ident("cust-1")),
		usage(now, "storage_gb", 10, account(buyerAccount)),
		usage(now.Add(-time.Hour), "users", 1, ident("cust-1")),
	)
	const callers = 30
	outs := make([]*mm.BatchMeterUsageOutput, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		c := rs[i%2].client(sellerKey)
		wg.Go(func() {
			<-start
			out, err := c.BatchMeterUsage(ctx, in)
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			outs[i] = out
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, out := range outs {
		if len(out.Results) != 3 || len(out.UnprocessedRecords) != 0 {
			t.Fatalf("caller %d: %d results, %d unprocessed", i, len(out.Results), len(out.UnprocessedRecords))
		}
		for j, r := range out.Results {
			want := outs[0].Results[j]
			if r.Status != types.UsageRecordResultStatusSuccess || aws.ToString(r.MeteringRecordId) != aws.ToString(want.MeteringRecordId) {
				t.Errorf("caller %d, record %d: %s %s; caller 0 got %s %s", i, j, r.Status, aws.ToString(r.MeteringRecordId), want.Status, aws.ToString(want.MeteringRecordId))
			}
		}
	}
	if n := rs[1].records(t, metering.UsageFilter{ProductCode: "saas-both"}); n != 3 {
		t.Errorf("stored %d records, want 3", n)
	}

	// One hour, customer and dimension, two quantities, both replicas.
	hour := now.Add(-2 * time.Hour)
	hourStart := hour.Truncate(time.Hour)
	type answer struct {
		quantity int32
		status   types.UsageRecordResultStatus
		id       string
	}
	answers := make([]answer, callers)
	start = make(chan struct{})
	for i := range callers {
		c := rs[i%2].client(sellerKey)
		q := int32(5 + i%2*2) // 5 or 7
		wg.Go(func() {
			<-start
			out, err := c.BatchMeterUsage(ctx, batch("saas-both", usage(hour, "users", q, ident("cust-1"))))
			if err != nil {
				t.Errorf("caller %d: %v", i, err)
				return
			}
			r := out.Results[0]
			answers[i] = answer{q, r.Status, aws.ToString(r.MeteringRecordId)}
		})
	}
	close(start)
	wg.Wait()
	var winner *answer
	for i, a := range answers {
		if a.status != types.UsageRecordResultStatusSuccess {
			continue
		}
		if winner == nil {
			winner = &answers[i]
		} else if a.quantity != winner.quantity || a.id != winner.id {
			t.Errorf("two versions succeeded: quantity %d as %s and quantity %d as %s", winner.quantity, winner.id, a.quantity, a.id)
		}
	}
	if winner == nil {
		t.Fatalf("no version succeeded: %v", answers)
	}
	for i, a := range answers {
		if a.quantity != winner.quantity && a.status != types.UsageRecordResultStatusDuplicateRecord {
			t.Errorf("caller %d, the losing version: %s, want DuplicateRecord", i, a.status)
		}
	}
	rows, err := rs[0].Store.UsageSummary(ctx, metering.UsageFilter{ProductCode: "saas-both", Dimension: "users", From: hourStart, To: hourStart.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Records != 1 || rows[0].Quantity != int64(winner.quantity) {
		t.Errorf("stored %+v, want one record of quantity %d", rows, winner.quantity)
	}
}

// TestReplicasSeeEachOthersState: state applied through one replica (here
// the service behind its admin API) reaches the other within a few
// seconds, without a restart.
func TestReplicasSeeEachOthersState(t *testing.T) {
	rs, _ := startReplicas(t, 2)
	now := rs[1].clock.Now()
	in := meterInput("ami-1", "hours", now, 1)
	_, err := rs[1].client(buyer2Key).MeterUsage(ctx, in)
	wantType[*types.CustomerNotEntitledException](t, err)

	err = rs[0].Service.ApplyState(ctx, metering.State{Customers: []metering.Customer{{Product: "ami-1", AccountID: buyer2Account, Status: metering.StatusSubscribed}}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = rs[1].client(buyer2Key).MeterUsage(ctx, in)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica 2 still refuses after 10 s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
