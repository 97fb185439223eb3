package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	mm "github.com/aws/aws-sdk-go-v2/service/marketplacemetering"
	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/pgtest"
)

// meterdBinary builds cmd/meterd into the test's temporary directory.
func meterdBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "meterd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/meterd/meterd/cmd/meterd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a `meterd serve` child process.
type process struct {
	cmd      *exec.Cmd
	endpoint string
	exited   <-chan struct{}
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startProcess runs `meterd serve` on database, listening on a free port,
// and waits for its banner. The process is killed when the test ends.
func startProcess(t *testing.T, bin, database string) *process {
	t.Helper()
	cmd := exec.Command(bin, "serve",
		"--database", database,
		"--state", filepath.Join("testdata", "state.yaml"),
		"--listen", "127.0.0.1:0",
		"--log-level", "warn")
	cmd.Stderr = &logWriter{t: t, prefix: "meterd: "}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Started through pgtest so that it dies with the test binary even if
	// that is killed before the cleanup runs.
	exited, err := pgtest.StartProcess(cmd)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, exited: exited}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
	})
	select {
	case p.endpoint = <-found:
	case <-p.exited:
		t.Fatalf("meterd exited at start: %v", cmd.ProcessState)
	case <-time.After(30 * time.Second):
		t.Fatal("meterd printed no banner within 30s")
	}
	return p
}

// logWriter passes a child's stderr to the test log.
type logWriter struct {
	t      *testing.T
	prefix string
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s%s", w.prefix, b)
	return len(b), nil
}

// client returns an SDK client for the process, signing with the real
// clock (the process runs on it). Retries are off: the test counts what
// each call answered.
func (p *process) client(creds aws.Credentials) *mm.Client {
	return mm.New(mm.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(p.endpoint),
		Credentials:      aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		RetryMaxAttempts: 1,
	})
}

// TestPostgresReplicaSIGKILL runs two meterd processes on one database
// under MeterUsage load, kills one with SIGKILL mid-load, and checks that
// every MeteringRecordId either acknowledged is stored, exactly once, under
// the ClientToken it was acknowledged for.
func TestPostgresReplicaSIGKILL(t *testing.T) {
	bin := meterdBinary(t)
	dsn := pgtest.NewDatabase(t)
	// `meterd migrate` ahead of the rollout, as docs/deploy.md says; the
	// replicas then find nothing to migrate.
	out, err := exec.Command(bin, "migrate", "--database", dsn).CombinedOutput()
	if err != nil || !regexp.MustCompile(`schema version \d+`).Match(out) {
		t.Fatalf("meterd migrate: %v\n%s", err, out)
	}
	procs := []*process{startProcess(t, bin, dsn), startProcess(t, bin, dsn)}

	var (
		mu    sync.Mutex
		acked = map[string]string{} // ClientToken → MeteringRecordId
		fails atomic.Int64
		next  atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 12 {
		p := procs[w%2]
		c := p.client(agentKey) // AgentCore: a record per ClientToken
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				token := fmt.Sprintf("kill-%06d", next.Add(1))
				in := meterInput("ami-1", "hours", time.Now(), 1)
				in.ClientToken = aws.String(token)
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				out, err := c.MeterUsage(cctx, in)
				cancel()
				if err != nil {
					fails.Add(1)
					if p != procs[0] {
						t.Errorf("the surviving replica failed a call: %v", err)
						return
					}
					select {
					case <-p.exited:
						return // killed: nothing more to send it
					default:
					}
					continue
				}
				mu.Lock()
				acked[token] = aws.ToString(out.MeteringRecordId)
				mu.Unlock()
			}
		})
	}
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	waitFor := func(n int) {
		deadline := time.Now().Add(20 * time.Second)
		for ackedCount() < n {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("only %d acknowledgements after 20s (%d failures)", ackedCount(), fails.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor(300)
	if err := procs[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-procs[0].exited
	killedAt := ackedCount()
	waitFor(killedAt + 200) // the survivor carries on
	close(stop)
	wg.Wait()
	t.Logf("%d acknowledged (%d before the kill), %d failed", len(acked), killedAt, fails.Load())

	tokens := make([]string, 0, len(acked))
	for tok := range acked {
		tokens = append(tokens, tok)
	}
	rows := pgQuery(t, dsn, `SELECT client_token, id, count(*) OVER (PARTITION BY id) FROM usage_records WHERE client_token = ANY($1)`, tokens)
	stored := map[string]string{}
	for _, r := range rows {
		if r[2] != "1" {
			t.Errorf("MeteringRecordId %s is stored %s times", r[1], r[2])
		}
		stored[r[0]] = r[1]
	}
	lost := 0
	for tok, id := range acked {
		if stored[tok] != id {
			lost++
			if lost <= 5 {
				t.Errorf("ClientToken %s was acknowledged as %s, stored as %q", tok, id, stored[tok])
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged records lost", lost, len(acked))
	}

	// The survivor still serves, and a replacement starts on the same
	// database and sees everything.
	procs[0] = startProcess(t, bin, dsn)
	first, err := procs[0].client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "hours", time.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	again, err := procs[1].client(buyerKey).MeterUsage(ctx, meterInput("ami-1", "hours", time.Now(), 1))
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(first.MeteringRecordId) != aws.ToString(again.MeteringRecordId) {
		t.Errorf("the restarted replica and the survivor answered %s and %s for one record", aws.ToString(first.MeteringRecordId), aws.ToString(again.MeteringRecordId))
	}
}

// TestPostgresOutage stops PostgreSQL under a running meterd: requests
// answer InternalServiceErrorException within a few seconds, and succeed
// again once the database is back, with no restart of meterd.
func TestPostgresOutage(t *testing.T) {
	c := pgtest.NewCluster(t)
	name, err := c.CreateDatabase()
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, serverOpts{db: c.DSN(name) + "&statement_timeout=2s"})
	buyer := s.client(buyerKey)
	seller := s.client(sellerKey)
	if _, err := buyer.MeterUsage(ctx, meterInput("ami-1", "hours", s.clock.Now(), 1)); err != nil {
		t.Fatal(err)
	}

	c.Stop(t)
	for i := range 3 {
		begin := time.Now()
		_, err := buyer.MeterUsage(ctx, meterInput("ami-1", "vcpus", s.clock.Now(), int32(i+1)))
		wantType[*types.InternalServiceErrorException](t, err)
		_, err = seller.BatchMeterUsage(ctx, batch("saas-both", usage(s.clock.Now(), "users", 1, ident("cust-1"))))
		wantType[*types.InternalServiceErrorException](t, err)
		if d := time.Since(begin); d > 5*time.Second {
			t.Fatalf("two requests took %s to fail", d)
		}
	}

	if code := readyz(t, s.Endpoint()); code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with the database down: %d, want 503", code)
	}

	c.Restart(t)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := buyer.MeterUsage(ctx, meterInput("ami-1", "vcpus", s.clock.Now(), 4))
		if err == nil {
			break
		}
		if !errors.As(err, new(*types.InternalServiceErrorException)) || time.Now().After(deadline) {
			t.Fatalf("after the database came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, err := seller.BatchMeterUsage(ctx, batch("saas-both", usage(s.clock.Now(), "users", 1, ident("cust-1"))))
	if err != nil || out.Results[0].Status != types.UsageRecordResultStatusSuccess {
		t.Fatalf("BatchMeterUsage after the outage: %v %v", out, err)
	}
	if n := s.records(t, metering.UsageFilter{}); n != 3 {
		t.Errorf("stored %d records, want 3", n)
	}
	if code := readyz(t, s.Endpoint()); code != http.StatusOK {
		t.Errorf("GET /readyz after the outage: %d, want 200", code)
	}
}

// readyz returns the status of GET /readyz.
func readyz(t *testing.T, endpoint string) int {
	t.Helper()
	resp, err := http.Get(endpoint + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
