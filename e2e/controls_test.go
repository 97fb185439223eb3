package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/meterd/meterd/internal/adminapi"
	"github.com/meterd/meterd/internal/app"
	"github.com/meterd/meterd/internal/metering"
)

// The test controls (internal/controls) end to end: set through the admin
// API, felt by real Go SDK clients.

// startWith runs meterd like start, with cfg changed by edit first.
func startWith(t *testing.T, edit func(*app.Config)) *server {
	t.Helper()
	db := filepath.Join(t.TempDir(), "meterd.db")
	clock := &testClock{}
	cfg := app.Config{Listen: "127.0.0.1:0", Database: db, StateFile: filepath.Join("testdata", "state.yaml"), Clock: clock}
	if edit != nil {
		edit(&cfg)
	}
	a, err := app.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start meterd: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return &server{App: a, clock: clock, db: db}
}

// retrying returns a client that retries as the SDK's standard retryer
// does, with a short fixed backoff so that the test stays quick.
func (s *server) retrying(creds aws.Credentials, attempts int) *mm.Client {
	return s.client(creds, func(o *mm.Options) {
		o.RetryMaxAttempts = 0
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 5 * time.Millisecond, nil })
			so.RateLimiter = ratelimit.None
		})
	})
}

// storedRecords counts the usage records meterd holds.
func (s *server) storedRecords(t *testing.T) int64 {
	t.Helper()
	rows, err := s.Store.UsageSummary(ctx, metering.UsageFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, r := range rows {
		n += r.Records
	}
	return n
}

func mustControls(t *testing.T) func(adminapi.Controls, error) adminapi.Controls {
	return func(c adminapi.Controls, err error) adminapi.Controls {
		t.Helper()
		if err != nil {
			t.Fatalf("admin API: %v", err)
		}
		return c
	}
}

// agentMeter meters on the AgentCore key, whose records are keyed by
// ClientToken, so that every call with a new token is a new record.
func agentMeter(token string, ts time.Time) *mm.MeterUsageInput {
	in := meterInput("ami-1", "hours", ts, 1)
	in.ClientToken = aws.String(token)
	return in
}

func TestControlsThrottling(t *testing.T) {
	s := start(t, serverOpts{})
	must := mustControls(t)
	must(s.admin().AddFault(ctx, adminapi.Fault{Operation: "MeterUsage", ThrottleRate: 0.5}))

	// The SDK retries ThrottlingException; every call ends in success.
	c := s.retrying(agentKey, 5)
	retried, total := 0, 0
	for i := 0; i < 10; i++ {
		out, err := c.MeterUsage(ctx, agentMeter(fmt.Sprintf("throttle-%d", i), time.Now()))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		res, ok := retry.GetAttemptResults(out.ResultMetadata)
		if !ok {
			t.Fatal("no attempt results in the metadata")
		}
		total += len(res.Results)
		if len(res.Results) > 1 {
			retried++
			wantCode(t, res.Results[0].Err, "ThrottlingException")
		}
	}
	// Half of the attempts are throttled: 10 successes take about 20.
	if retried == 0 || total < 17 || total > 23 {
		t.Errorf("10 calls at throttle rate 0.5: %d attempts, %d calls retried", total, retried)
	}
	t.Logf("10 calls took %d attempts; %d were retried", total, retried)

	// At rate 1 the SDK gives up after its attempts, with the exception.
	must(s.admin().ClearFaults(ctx))
	must(s.admin().AddFault(ctx, adminapi.Fault{Operation: "MeterUsage", Account: buyerAccount, ThrottleRate: 1}))
	_, err := s.retrying(agentKey, 3).MeterUsage(ctx, agentMeter("throttle-always", time.Now()))
	var maxErr *retry.MaxAttemptsError
	if !errors.As(err, &maxErr) || maxErr.Attempt != 3 {
		t.Fatalf("rate 1: %v, want the SDK to give up after 3 attempts", err)
	}
	e := wantType[*types.ThrottlingException](t, err)
	if !strings.Contains(e.ErrorMessage(), "test controls") {
		t.Errorf("message %q does not say the throttle was injected", e.ErrorMessage())
	}
	// The fault names the buyer account: the seller is not throttled.
	if _, err := s.client(sellerKey).BatchMeterUsage(ctx, batch("saas-both", usage(time.Now(), "users", 1, ident("cust-1")))); err != nil {
		t.Errorf("another account was throttled: %v", err)
	}
	if n := s.storedRecords(t); n != 11 {
		t.Errorf("%d records stored, want 10 + 1", n)
	}
}

func TestControlsInternalError(t *testing.T) {
	s := start(t, serverOpts{})
	must := mustControls(t)
	must(s.admin().AddFault(ctx, adminapi.Fault{Operation: "BatchMeterUsage", InternalErrorRate: 1}))
	_, err := s.client(sellerKey).BatchMeterUsage(ctx, batch("saas-both", usage(time.Now(), "users", 1, ident("cust-1"))))
	e := wantType[*types.InternalServiceErrorException](t, err)
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
		t.Errorf("status: %v, want 500", err)
	}
	if strings.Contains(e.ErrorMessage(), "injected") {
		t.Errorf("message %q leaks the internal detail", e.ErrorMessage())
	}
	if n := s.storedRecords(t); n != 0 {
		t.Errorf("%d records stored by a refused call", n)
	}

	// At rate 0.5 the SDK's retry gets through: InternalServiceErrorException
	// is a 500, which the standard retryer retries.
	must(s.admin().ClearFaults(ctx))
	must(s.admin().AddFault(ctx, adminapi.Fault{Operation: "BatchMeterUsage", InternalErrorRate: 0.5}))
	c := s.retrying(sellerKey, 5)
	retried := 0
	for i := 0; i < 6; i++ {
		out, err := c.BatchMeterUsage(ctx, batch("saas-both", usage(time.Now().Add(-time.Duration(i)*time.Hour), "users", 1, ident("cust-1"))))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if res, _ := retry.GetAttemptResults(out.ResultMetadata); len(res.Results) > 1 {
			retried++
			wantCode(t, res.Results[0].Err, "InternalServiceErrorException")
		}
	}
	if retried == 0 {
		t.Error("no call was retried at internal_error_rate 0.5")
	}
	if n := s.storedRecords(t); n != 6 {
		t.Errorf("%d records stored, want 6", n)
	}
}

func TestControlsLatency(t *testing.T) {
	s := start(t, serverOpts{})
	mustControls(t)(s.admin().AddFault(ctx, adminapi.Fault{Operation: "MeterUsage", Account: buyerAccount, Latency: "300ms"}))
	timed := func(f func() error) time.Duration {
		t.Helper()
		start := time.Now()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	slow := timed(func() error {
		_, err := s.client(agentKey).MeterUsage(ctx, agentMeter("latency-1", time.Now()))
		return err
	})
	fast := timed(func() error {
		_, err := s.client(sellerKey).BatchMeterUsage(ctx, batch("saas-both", usage(time.Now(), "users", 1, ident("cust-1"))))
		return err
	})
	if slow < 300*time.Millisecond || slow > 2*time.Second {
		t.Errorf("MeterUsage with 300ms latency took %v", slow)
	}
	if fast > 250*time.Millisecond {
		t.Errorf("BatchMeterUsage, which the fault does not match, took %v", fast)
	}
}

func TestControlsUnprocessedRecords(t *testing.T) {
	s := start(t, serverOpts{})
	must := mustControls(t)
	must(s.admin().AddFault(ctx, adminapi.Fault{Operation: "BatchMeterUsage", Account: sellerAccount, UnprocessedRate: 0.5}))
	now := time.Now()
	var recs []types.UsageRecord
	for i := 0; i < 10; i++ {
		recs = append(recs, usage(now.Add(-time.Duration(i)*time.Hour), "users", int32(i+1), ident("cust-1")))
	}
	seller := s.client(sellerKey)
	out, err := seller.BatchMeterUsage(ctx, batch("saas-both", recs...))
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != 5 || len(out.UnprocessedRecords) != 5 {
		t.Fatalf("%d results, %d unprocessed; want 5 and 5", len(out.Results), len(out.UnprocessedRecords))
	}
	seen := map[int32]bool{}
	for _, r := range out.Results {
		if r.Status != types.UsageRecordResultStatusSuccess {
			t.Errorf("result %v: %s", aws.ToInt32(r.UsageRecord.Quantity), r.Status)
		}
		seen[aws.ToInt32(r.UsageRecord.Quantity)] = true
	}
	for _, u := range out.UnprocessedRecords {
		q := aws.ToInt32(u.Quantity)
		if seen[q] {
			t.Errorf("record %d is both processed and unprocessed", q)
		}
		seen[q] = true
		if aws.ToString(u.CustomerIdentifier) != "cust-1" || aws.ToString(u.Dimension) != "users" || u.Timestamp == nil {
			t.Errorf("unprocessed record %+v is not the record as sent", u)
		}
	}
	if len(seen) != 10 {
		t.Errorf("results and unprocessed records cover %d of 10 records", len(seen))
	}
	if n := s.storedRecords(t); n != 5 {
		t.Fatalf("%d records stored, want the 5 processed only", n)
	}
	// The debugger explains each unprocessed record by its position in
	// the request (quantity i+1 was sent at position i+1).
	for _, u := range out.UnprocessedRecords {
		d, err := s.admin().DebugRecords(ctx, "saas-both", "cust-1", aws.ToTime(u.Timestamp))
		if err != nil {
			t.Fatal(err)
		}
		q := aws.ToInt32(u.Quantity)
		if len(d.Records) != 0 || len(d.Attempts) != 1 || d.Attempts[0].Status != "Unprocessed" || d.Attempts[0].Index != int(q) || d.Attempts[0].Quantity != int64(q) {
			t.Errorf("debugger for unprocessed record %d: %+v", q, d)
		}
	}

	// The client sends the unprocessed records again once the fault is gone.
	must(s.admin().ClearFaults(ctx))
	again, err := seller.BatchMeterUsage(ctx, &mm.BatchMeterUsageInput{ProductCode: aws.String("saas-both"), UsageRecords: out.UnprocessedRecords})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Results) != 5 || len(again.UnprocessedRecords) != 0 {
		t.Fatalf("resend: %d results, %d unprocessed", len(again.Results), len(again.UnprocessedRecords))
	}
	for _, r := range again.Results {
		if r.Status != types.UsageRecordResultStatusSuccess {
			t.Errorf("resent record %d: %s, want Success (never stored before)", aws.ToInt32(r.UsageRecord.Quantity), r.Status)
		}
	}
	if n := s.storedRecords(t); n != 10 {
		t.Errorf("%d records stored after the resend, want 10", n)
	}
}

func TestControlsQuotas(t *testing.T) {
	s := start(t, serverOpts{})
	ctl := mustControls(t)(s.admin().SetQuotas(ctx, adminapi.QuotaControl{Enabled: true}))
	want := map[string]float64{"BatchMeterUsage": 10, "MeterUsage": 10, "RegisterUsage": 5}
	for op, r := range want {
		if ctl.Quotas.PerSecond[op] != r {
			t.Errorf("quota %s = %v, want %v", op, ctl.Quotas.PerSecond[op], r)
		}
	}
	// count sends n calls back to back and counts those admitted; the
	// rest must be ThrottlingException.
	count := func(n int, call func(i int) error) int {
		t.Helper()
		ok := 0
		for i := 0; i < n; i++ {
			err := call(i)
			if err == nil {
				ok++
				continue
			}
			if e := wantType[*types.ThrottlingException](t, err); !strings.Contains(e.ErrorMessage(), "per second per account") {
				t.Fatalf("throttle message %q", e.ErrorMessage())
			}
		}
		return ok
	}
	round := 0
	batchAs := func(creds aws.Credentials, product, customer string) func(int) error {
		c := s.client(creds)
		return func(i int) error {
			// Each call a new hour, so that no record is a duplicate.
			ts := time.Now().Add(-time.Duration(round*30+i) * time.Minute)
			_, err := c.BatchMeterUsage(ctx, batch(product, usage(ts, "users", 1, ident(customer))))
			return err
		}
	}
	start := time.Now()
	seller := count(30, batchAs(sellerKey, "saas-both", "cust-1"))
	// Another seller account has its own bucket.
	other := count(30, func(int) error {
		_, err := s.client(otherSellerKey).BatchMeterUsage(ctx, batch("saas-both", usage(time.Now(), "users", 1, ident("cust-1"))))
		var pe *types.InvalidProductCodeException
		if errors.As(err, &pe) { // not its product: admitted, then refused by the rules
			return nil
		}
		return err
	})
	buyer := count(30, func(i int) error {
		_, err := s.client(agentKey).MeterUsage(ctx, agentMeter(fmt.Sprintf("quota-%d", i), time.Now()))
		return err
	})
	task := count(30, func(int) error {
		_, err := s.client(taskKey).RegisterUsage(ctx, &mm.RegisterUsageInput{ProductCode: aws.String("container-1"), PublicKeyVersion: aws.Int32(1)})
		return err
	})
	entitled := count(30, func(int) error { // ResolveCustomer has no quota
		_, err := s.client(sellerKey).ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg+token/legacy==")})
		return err
	})
	elapsed := time.Since(start).Seconds()
	check := func(name string, got int, burst, rate float64) {
		t.Helper()
		// The bucket's second of calls, plus what refills while the calls run.
		if lo, hi := int(burst), int(burst+rate*elapsed)+1; got < lo || got > hi {
			t.Errorf("%s: %d of 30 admitted in %.2fs, want %d to %d", name, got, elapsed, lo, hi)
		}
	}
	check("BatchMeterUsage", seller, 10, 10)
	check("BatchMeterUsage, other account", other, 10, 10)
	check("MeterUsage", buyer, 10, 10)
	check("RegisterUsage", task, 5, 5)
	if entitled != 30 {
		t.Errorf("ResolveCustomer, which has no quota: %d of 30 admitted", entitled)
	}
	t.Logf("admitted of 30 in %.2fs: BatchMeterUsage %d (other account %d), MeterUsage %d, RegisterUsage %d, ResolveCustomer %d",
		elapsed, seller, other, buyer, task, entitled)

	// A second later the bucket is full again.
	time.Sleep(1100 * time.Millisecond)
	round = 1
	if got := count(30, batchAs(sellerKey, "saas-both", "cust-1")); got < 10 || got > 12 {
		t.Errorf("after 1.1 s: %d admitted, want the bucket's 10 (or 11)", got)
	}
	mustControls(t)(s.admin().SetQuotas(ctx, adminapi.QuotaControl{Enabled: false}))
	round = 2
	if got := count(30, batchAs(sellerKey, "saas-both", "cust-1")); got != 30 {
		t.Errorf("quotas off: %d of 30 admitted", got)
	}
}

// TestControlsClock moves the clock the rules read: a 7-hour-old
// timestamp, out of MeterUsage's 6-hour window, is accepted once the clock
// runs 7 hours behind, and a registration token expires when the clock
// passes its ttl. SigV4 keeps the real clock.
func TestControlsClock(t *testing.T) {
	s := start(t, serverOpts{})
	must := mustControls(t)
	buyer := s.client(agentKey)
	old := time.Now().Add(-7 * time.Hour)
	_, err := buyer.MeterUsage(ctx, agentMeter("clock-1", old))
	wantType[*types.TimestampOutOfBoundsException](t, err)

	ctl := must(s.admin().SetClock(ctx, adminapi.ClockControl{Offset: "-7h"}))
	if d := ctl.RealTime.Sub(ctl.Now); d < 7*time.Hour-time.Minute || d > 7*time.Hour+time.Minute {
		t.Errorf("offset -7h: now %v, real %v", ctl.Now, ctl.RealTime)
	}
	if _, err := buyer.MeterUsage(ctx, agentMeter("clock-1", old)); err != nil {
		t.Fatalf("7-hour-old timestamp with the clock 7 hours behind: %v", err)
	}
	// Real now is in the future of the moved clock.
	_, err = buyer.MeterUsage(ctx, agentMeter("clock-2", time.Now()))
	wantType[*types.TimestampOutOfBoundsException](t, err)
	// SDKs sign with real time; a client that signed with the moved clock
	// is outside SigV4's skew window.
	skewed := s.client(agentKey, func(o *mm.Options) {
		o.HTTPSignerV4 = clockSigner{inner: v4.NewSigner(), now: func() time.Time { return time.Now().Add(-7 * time.Hour) }}
	})
	_, err = skewed.MeterUsage(ctx, agentMeter("clock-3", old))
	wantCode(t, err, "InvalidSignatureException")

	// Token expiry follows the clock: the state file's token lives 4h.
	must(s.admin().SetClock(ctx, adminapi.ClockControl{}))
	seller := s.client(sellerKey)
	resolve := func() error {
		_, err := seller.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg+token/legacy==")})
		return err
	}
	if err := resolve(); err != nil {
		t.Fatalf("fresh token: %v", err)
	}
	must(s.admin().SetClock(ctx, adminapi.ClockControl{Offset: "5h"}))
	wantType[*types.ExpiredTokenException](t, resolve())
	frozen := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	ctl = must(s.admin().SetClock(ctx, adminapi.ClockControl{FrozenAt: frozen}))
	if !ctl.Now.Equal(frozen) {
		t.Errorf("frozen clock: now %v, want %v", ctl.Now, frozen)
	}
	if err := resolve(); err != nil {
		t.Errorf("clock frozen inside the token's ttl: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if ctl = must(s.admin().Controls(ctx)); !ctl.Now.Equal(frozen) {
		t.Errorf("frozen clock moved: now %v, want %v", ctl.Now, frozen)
	}
	// A MeterUsage timestamp at the frozen time is now, for the rules.
	if _, err := buyer.MeterUsage(ctx, agentMeter("clock-4", frozen)); err != nil {
		t.Errorf("timestamp at the frozen time: %v", err)
	}
	if ctl = must(s.admin().ClearControls(ctx)); !ctl.Clock.FrozenAt.IsZero() || ctl.Clock.Offset != "" {
		t.Errorf("after clear: %+v", ctl.Clock)
	}
}

// TestControlsStateFile starts meterd with controls in its state file and
// checks that a reset reloads them, and the state, while usage goes.
func TestControlsStateFile(t *testing.T) {
	base, err := os.ReadFile(filepath.Join("testdata", "state.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "state.yaml")
	withControls := string(base) + `
controls:
  clock:
    offset: -7h
  quotas:
    enabled: true
    per_second: {MeterUsage: 2}
`
	if err := os.WriteFile(file, []byte(withControls), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startWith(t, func(c *app.Config) { c.StateFile = file })
	must := mustControls(t)
	ctl := must(s.admin().Controls(ctx))
	if ctl.Clock.Offset != "-7h0m0s" || !ctl.Quotas.Enabled || ctl.Quotas.PerSecond["MeterUsage"] != 2 {
		t.Fatalf("controls from the state file: %+v", ctl)
	}
	// The file's token lives 4h from the moved clock's now.
	toks, err := s.admin().RegistrationTokens(ctx, "saas-both", buyerAccount)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.Token == "reg+token/legacy==" {
			if d := tok.ExpiresAt.Sub(ctl.Now); d < 3*time.Hour || d > 4*time.Hour {
				t.Errorf("token expires %v after the moved clock's now, want 4h", d)
			}
		}
	}

	buyer := s.client(agentKey)
	if _, err := buyer.MeterUsage(ctx, agentMeter("file-1", time.Now().Add(-7*time.Hour))); err != nil {
		t.Fatal(err)
	}
	must(s.admin().AddFault(ctx, adminapi.Fault{Latency: "1ms"}))
	if _, err := s.admin().Unsubscribe(ctx, "ami-1", buyerAccount, time.Minute); err != nil {
		t.Fatal(err)
	}
	res, err := s.admin().Reset(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsDeleted != 1 || !res.StateReloaded {
		t.Errorf("reset: %+v", res)
	}
	ctl = must(s.admin().Controls(ctx))
	if len(ctl.Faults) != 0 || ctl.Clock.Offset != "-7h0m0s" || !ctl.Quotas.Enabled {
		t.Errorf("after reset with reload: controls %+v, want the file's", ctl)
	}
	cu, err := s.admin().Customer(ctx, "ami-1", buyerAccount)
	if err != nil {
		t.Fatal(err)
	}
	if cu.Status != "subscribed" {
		t.Errorf("after reset with reload: customer %s, want the file's subscribed", cu.Status)
	}
	if n := s.storedRecords(t); n != 0 {
		t.Errorf("%d records after reset", n)
	}
	// Usage can be metered again as new.
	if _, err := buyer.MeterUsage(ctx, agentMeter("file-1", time.Now().Add(-7*time.Hour))); err != nil {
		t.Fatal(err)
	}
}

// TestControlsReset wipes usage and keeps the state and controls.
func TestControlsReset(t *testing.T) {
	s := start(t, serverOpts{})
	seller := s.client(sellerKey)
	// Two hours old: still inside the window once the clock moves back 1h.
	ts := time.Now().Add(-2 * time.Hour)
	rec := batch("saas-both", usage(ts, "users", 3, ident("cust-1")))
	if _, err := seller.BatchMeterUsage(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client(taskKey).RegisterUsage(ctx, &mm.RegisterUsageInput{ProductCode: aws.String("container-1"), PublicKeyVersion: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	mustControls(t)(s.admin().SetClock(ctx, adminapi.ClockControl{Offset: "-1h"}))
	res, err := s.admin().Reset(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.RecordsDeleted != 1 || res.StateReloaded {
		t.Errorf("reset: %+v", res)
	}
	if n := s.storedRecords(t); n != 0 {
		t.Errorf("%d records after reset", n)
	}
	if ctl := mustControls(t)(s.admin().Controls(ctx)); ctl.Clock.Offset != "-1h0m0s" {
		t.Errorf("reset keep changed the clock: %+v", ctl.Clock)
	}
	// The same record is new again: stored once more. (Its
	// MeteringRecordId is derived from its key, so it is the same id.)
	again, err := seller.BatchMeterUsage(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if st := again.Results[0].Status; st != types.UsageRecordResultStatusSuccess {
		t.Errorf("after reset the record was %s, want Success", st)
	}
	if n := s.storedRecords(t); n != 1 {
		t.Errorf("%d records stored after metering again, want 1", n)
	}
	// The state was kept: the customer still resolves.
	if _, err := seller.ResolveCustomer(ctx, &mm.ResolveCustomerInput{RegistrationToken: aws.String("reg+token/legacy==")}); err != nil {
		t.Error(err)
	}
}
