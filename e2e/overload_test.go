package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/marketplacemetering/types"

	"github.com/meterd/meterd/internal/adminapi"
	"github.com/meterd/meterd/internal/app"
)

// TestOverloadFair drives one account far past meterd's capacity with
// slow calls (latency injected by the test controls holds each call's
// slot) and checks that past capacity meterd answers ThrottlingException
// at once instead of queueing, and that another account still gets in.
func TestOverloadFair(t *testing.T) {
	const capacity, latency = 8, 600 * time.Millisecond
	s := startWith(t, func(c *app.Config) { c.MaxInFlight = capacity })
	mustControls(t)(s.admin().AddFault(ctx, adminapi.Fault{Operation: "MeterUsage", Account: buyerAccount, Latency: latency.String()}))

	type outcome struct {
		err error
		d   time.Duration
	}
	const flood = 40
	results := make(chan outcome, flood)
	buyer := s.client(agentKey)
	var wg sync.WaitGroup
	for i := 0; i < flood; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, err := buyer.MeterUsage(ctx, agentMeter(fmt.Sprintf("flood-%d", i), time.Now()))
			results <- outcome{err, time.Since(start)}
		}()
	}
	// While the buyer's calls hold their slots, the seller's go through.
	time.Sleep(150 * time.Millisecond)
	seller := s.client(sellerKey)
	for i := 0; i < 5; i++ {
		start := time.Now()
		if _, err := seller.BatchMeterUsage(ctx, batch("saas-both", usage(time.Now().Add(-time.Duration(i)*time.Hour), "users", 1, ident("cust-1")))); err != nil {
			t.Errorf("seller call %d during the buyer's flood: %v", i, err)
		}
		if d := time.Since(start); d > 300*time.Millisecond {
			t.Errorf("seller call %d took %v during the buyer's flood", i, d)
		}
	}
	wg.Wait()
	close(results)
	ok, throttled := 0, 0
	var slowest time.Duration
	for r := range results {
		switch {
		case r.err == nil:
			ok++
		default:
			e := wantType[*types.ThrottlingException](t, r.err)
			if !strings.Contains(e.ErrorMessage(), "at capacity") {
				t.Errorf("throttle message %q", e.ErrorMessage())
			}
			throttled++
			slowest = max(slowest, r.d)
		}
	}
	// One account alone gets three quarters of the slots.
	if ok < 1 || ok > capacity*3/4 || ok+throttled != flood {
		t.Errorf("flood of %d: %d served, %d throttled; want at most %d served", flood, ok, throttled, capacity*3/4)
	}
	if slowest > latency/2 {
		t.Errorf("a throttled call took %v: throttles must answer at once, not after the %v the served calls take", slowest, latency)
	}
	if n := s.storedRecords(t); n != int64(ok+5) {
		t.Errorf("%d records stored, want %d served + 5", n, ok)
	}
	t.Logf("flood of %d slow calls at capacity %d: %d served, %d throttled (slowest throttle %v)", flood, capacity, ok, throttled, slowest)
}

// TestSlowClients opens hundreds of connections that send their headers
// or body a byte at a time (slowloris) and checks that meterd keeps
// serving SDK clients meanwhile, and that the server's header timeout
// (internal/httpserver: ReadHeaderTimeout 10 s) closes the slow ones.
func TestSlowClients(t *testing.T) {
	s := start(t, serverOpts{})
	const slowHeaders, slowBodies = 200, 50
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	dial := func(first string) net.Conn {
		c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, first); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		return c
	}
	var headerConns []net.Conn
	for i := 0; i < slowHeaders; i++ {
		headerConns = append(headerConns, dial("POST / HTTP/1.1\r\nHost: meterd\r\n"))
	}
	for i := 0; i < slowBodies; i++ {
		// A body of 1 MB announced, a byte sent.
		dial("POST / HTTP/1.1\r\nHost: meterd\r\nX-Amz-Target: AWSMPMeteringService.MeterUsage\r\n" +
			"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 1000000\r\n\r\n{")
	}
	// Keep dribbling: a header line or a body byte per connection every
	// 500 ms, until the test is done.
	stop := make(chan struct{})
	dribbled := make(chan struct{})
	go func() {
		defer close(dribbled)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for n := 0; n < 60; n++ { // 30 s at most
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for i, c := range conns {
				c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
				if i < slowHeaders {
					io.WriteString(c, "X-Slow: 1\r\n")
				} else {
					io.WriteString(c, " ")
				}
			}
		}
	}()
	defer func() { close(stop); <-dribbled }()

	// SDK clients are served as usual.
	c := s.client(agentKey)
	for i := 0; i < 20; i++ {
		start := time.Now()
		if _, err := c.MeterUsage(ctx, agentMeter(fmt.Sprintf("slowloris-%d", i), time.Now())); err != nil {
			t.Fatalf("call %d among slow clients: %v", i, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("call %d took %v among %d slow clients", i, d, slowHeaders+slowBodies)
		}
	}

	// The header timeout closes the slow-header connections: reading them
	// ends (EOF or reset) instead of waiting.
	deadline := time.Now().Add(14 * time.Second)
	closed := 0
	for _, hc := range headerConns {
		hc.SetReadDeadline(deadline)
		_, err := io.ReadAll(hc)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		closed++
	}
	if closed != slowHeaders {
		t.Errorf("%d of %d slow-header connections closed by the server within 14 s", closed, slowHeaders)
	}
	if _, err := c.MeterUsage(ctx, agentMeter("slowloris-after", time.Now())); err != nil {
		t.Errorf("after the slow clients: %v", err)
	}
}
