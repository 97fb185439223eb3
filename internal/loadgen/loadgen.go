// Package loadgen drives a Marketplace Metering endpoint with signed
// MeterUsage or BatchMeterUsage traffic and measures what comes back:
// throughput, latency percentiles and errors by AWS error code.
//
// It exists so that meterd's performance targets can be stated and checked
// as ratios against a yardstick rather than as absolute numbers that depend
// on the machine: DecodeOnlyHandler is that yardstick, a handler that does
// the protocol work every implementation must do (read, decode, answer) and
// nothing else, and `meterd bench` runs the same load against it and against
// the real service.
//
// The generator behaves like a fleet of real clients, because shortcuts
// would measure something else: every request is real HTTP over a shared
// keep-alive transport and is SigV4-signed with aws-sdk-go-v2's signer over
// its own payload hash, so the server's signature check does its full work.
// Records cycle through the customers, dimensions and hours the metering
// rules allow, so that a run writes new records instead of hitting the
// idempotency cache, unless a duplicate ratio asks for repeats. In
// fixed-rate mode latency is measured from when each request was due, not
// from when a worker got round to it (no coordinated omission).
//
// The package uses the standard library for everything but signing, so that
// the generator's own cost is small, visible in a profile and easy to
// subtract.
package loadgen

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Operation is the metering operation a run sends.
type Operation string

// Operations.
const (
	// OpBatch is BatchMeterUsage: a seller meters several SaaS customers'
	// usage per request.
	OpBatch Operation = "batch"
	// OpMeter is MeterUsage: a buyer's workload meters its own usage.
	OpMeter Operation = "meter"
)

// Target returns the X-Amz-Target header value of op.
func (op Operation) Target() string {
	switch op {
	case OpBatch:
		return "AWSMPMeteringService.BatchMeterUsage"
	case OpMeter:
		return "AWSMPMeteringService.MeterUsage"
	}
	return ""
}

// Defaults of Config's zero fields.
const (
	DefaultConcurrency       = 32
	DefaultRecordsPerRequest = 25
	DefaultRegion            = "us-east-1"
	DefaultTimeout           = 30 * time.Second
)

// SigningName is the SigV4 service name of the Marketplace Metering Service.
const SigningName = "aws-marketplace"

// Config describes one run. Endpoint, Operation, ProductCode, Dimensions,
// Credentials (and Customers for OpBatch) are required, and so is Duration
// or Requests: every run is bounded.
type Config struct {
	// Endpoint is the base URL, such as http://127.0.0.1:8080.
	Endpoint string
	// MoreEndpoints are further base URLs of the same service (replicas
	// behind no load balancer): workers take Endpoint and these in turn,
	// each worker keeping to one, as clients of a load balancer that
	// keeps connections do.
	MoreEndpoints []string
	// Region is signed into every request; default us-east-1.
	Region    string
	Operation Operation

	// Concurrency is the number of workers, each with at most one request
	// in flight; default 32. In fixed-rate mode it caps the requests in
	// flight: a rate the workers cannot keep up with shows as Missed.
	Concurrency int
	// Duration bounds the run in time, Requests in count; the first reached
	// ends it. Requests in flight at the end complete and count.
	Duration time.Duration
	Requests int64
	// Rate, when positive, sends requests at this many per second on a
	// fixed schedule instead of as fast as the workers go.
	Rate float64
	// Timeout bounds each request; default 30s.
	Timeout time.Duration

	// ProductCode is the product metered.
	ProductCode string
	// Dimensions are the usage dimensions records cycle through.
	Dimensions []string
	// Customers are the CustomerIdentifiers BatchMeterUsage records cycle
	// through; MeterUsage ignores them.
	Customers []string
	// Credentials sign the requests, in turn. For OpBatch they are the
	// seller's keys; for OpMeter each is one buyer workload, so their
	// number is the number of workloads.
	Credentials []aws.Credentials
	// RecordsPerRequest is the number of records in a BatchMeterUsage
	// request; default 25, the API's maximum.
	RecordsPerRequest int
	// Hours is the number of distinct hours records are spread over,
	// counting back from now; default and maximum what AWS's windows allow
	// (5 for MeterUsage, 23 for BatchMeterUsage, fewer early in a month).
	Hours int
	// DuplicateRatio is the fraction of requests, in [0, 1], that repeat an
	// earlier request exactly (same body, signed again), as a client
	// retrying after a timeout does.
	DuplicateRatio float64
	// Seed makes the choice of duplicates reproducible.
	Seed uint64
	// Offset is the number of the run's first slot. Records are numbered
	// from it, so a run that continues where an earlier one against the
	// same server stopped (Offset += Result.Requests) writes new records
	// instead of repeating the earlier run's.
	Offset int64

	// Transport carries the requests; default a new transport with an idle
	// connection per worker, closed when the run ends.
	Transport http.RoundTripper
	// Now is the clock for signing and for record timestamps; default
	// time.Now. It does not pace the run.
	Now func() time.Time
}

// Result is what a run measured.
type Result struct {
	Operation Operation
	// Requests is the number of requests sent; OK those answered 200.
	Requests, OK int64
	// Records is the number of records in requests answered 200; Succeeded
	// those answered with Status Success (for MeterUsage, every one).
	Records, Succeeded int64
	// Duplicates is the number of requests that repeated an earlier one.
	Duplicates int64
	// Errors counts failed requests by AWS error code (X-Amzn-ErrorType),
	// "HTTP <status>" for an answer without one, or a client-side class
	// (Timeout, Canceled, Transport). ErrorSamples holds the first message
	// seen for each.
	Errors       map[string]int64
	ErrorSamples map[string]string
	// Missed is, in fixed-rate mode, the number of requests that were due
	// within the run but never sent because every worker was busy. Requests
	// due before the end are still sent late (and their wait counted) for
	// up to half the duration, at least a second, after it.
	Missed int64
	// Elapsed runs from the start of the run to the last answer.
	Elapsed time.Duration
	// Latency holds every request's latency, failed ones included.
	Latency *Histogram
	// CPU is the user and system CPU time the whole process used during the
	// run. When the server runs in the same process, it is both sides'.
	CPU time.Duration
}

// ErrorCount is the number of failed requests.
func (r Result) ErrorCount() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// RequestsPerSecond is the rate of requests answered 200.
func (r Result) RequestsPerSecond() float64 { return perSecond(r.OK, r.Elapsed) }

// RecordsPerSecond is the rate of records in requests answered 200.
func (r Result) RecordsPerSecond() float64 { return perSecond(r.Records, r.Elapsed) }

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func (cfg *Config) fill() error {
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.RecordsPerRequest == 0 {
		cfg.RecordsPerRequest = DefaultRecordsPerRequest
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.Endpoint == "" {
		bad("no endpoint")
	}
	if cfg.Operation.Target() == "" {
		bad("operation %q is not %s or %s", cfg.Operation, OpBatch, OpMeter)
	}
	if cfg.Duration <= 0 && cfg.Requests <= 0 {
		bad("neither a duration nor a request count: a run must be bounded")
	}
	if cfg.Duration < 0 || cfg.Requests < 0 || cfg.Offset < 0 || cfg.Concurrency < 0 || cfg.RecordsPerRequest < 0 || cfg.Hours < 0 {
		bad("negative duration, request count, concurrency, records or hours")
	}
	if cfg.Rate < 0 || cfg.Rate > 1e7 {
		bad("rate %g is not in [0, 1e7] requests/s", cfg.Rate)
	}
	if cfg.DuplicateRatio < 0 || cfg.DuplicateRatio > 1 {
		bad("duplicate ratio %g is not in [0, 1]", cfg.DuplicateRatio)
	}
	if cfg.ProductCode == "" {
		bad("no product code")
	}
	if len(cfg.Dimensions) == 0 {
		bad("no dimensions")
	}
	if cfg.Operation == OpBatch && len(cfg.Customers) == 0 {
		bad("BatchMeterUsage needs customers")
	}
	if len(cfg.Credentials) == 0 {
		bad("no credentials")
	}
	return errors.Join(errs...)
}

// Run sends the configured load and returns what it measured. It fails
// only on a bad Config; request failures are counted in the Result. When
// ctx ends early, Run returns what it measured so far.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.fill(); err != nil {
		return Result{}, fmt.Errorf("loadgen: %w", err)
	}
	transport := cfg.Transport
	if transport == nil {
		t := NewTransport(cfg.Concurrency)
		defer t.CloseIdleConnections()
		transport = t
	}
	client := &http.Client{Transport: transport, Timeout: cfg.Timeout}
	g := &generator{cfg: cfg, client: client, signer: v4.NewSigner()}
	for _, e := range append([]string{cfg.Endpoint}, cfg.MoreEndpoints...) {
		g.urls = append(g.urls, strings.TrimSuffix(e, "/")+"/")
	}
	g.hours = cfg.Hours
	if limit := MaxHours(cfg.Operation, cfg.Now()); g.hours == 0 || g.hours > limit {
		g.hours = limit
	}

	start := time.Now()
	s := &schedule{start: start, limit: cfg.Requests}
	if cfg.Duration > 0 {
		s.deadline = start.Add(cfg.Duration)
	}
	if cfg.Rate > 0 {
		s.interval = max(time.Duration(float64(time.Second)/cfg.Rate), 1)
		s.drain = max(cfg.Duration/2, time.Second)
	}
	cpu0 := processCPU()
	tallies := make([]*tally, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range tallies {
		t := newTally()
		tallies[i] = t
		w := g.newWorker(i)
		wg.Go(func() {
			// The label lets a CPU profile of a shared process tell the
			// generator's work from the server's.
			pprof.Do(ctx, pprof.Labels("loadgen", "client"), func(ctx context.Context) {
				work(ctx, realClock{}, s, w.send, t)
			})
		})
	}
	wg.Wait()
	res := Result{
		Operation:    cfg.Operation,
		Elapsed:      time.Since(start),
		CPU:          processCPU() - cpu0,
		Missed:       s.missed(),
		Latency:      NewHistogram(),
		Errors:       map[string]int64{},
		ErrorSamples: map[string]string{},
	}
	for _, t := range tallies {
		res.Latency.Merge(t.latency)
		res.Requests += t.requests
		res.OK += t.ok
		res.Records += t.records
		res.Succeeded += t.succeeded
		res.Duplicates += t.duplicates
		for code, n := range t.errors {
			res.Errors[code] += n
			if _, seen := res.ErrorSamples[code]; !seen {
				res.ErrorSamples[code] = t.samples[code]
			}
		}
	}
	return res, nil
}

// NewTransport returns an HTTP/1.1 keep-alive transport that keeps an idle
// connection for each of conns concurrent requests to one host, so that a
// run never pays for new connections after warm-up.
func NewTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil, // 127.0.0.1 traffic must not go through HTTP_PROXY
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// generator holds what the workers share: all of it is read-only or safe
// for concurrent use.
type generator struct {
	cfg    Config
	client *http.Client
	signer *v4.Signer
	urls   []string
	hours  int
}

// historySize is how many of its own requests a worker remembers for
// duplicates.
const historySize = 64

type sent struct {
	body []byte
	cred int
}

// worker builds and sends requests for one goroutine.
type worker struct {
	g       *generator
	url     string
	rng     *rand.Rand
	history []sent
	resp    bytes.Buffer
}

func (g *generator) newWorker(i int) *worker {
	return &worker{g: g, url: g.urls[i%len(g.urls)], rng: rand.New(rand.NewPCG(g.cfg.Seed, uint64(i)))}
}

// send builds (or repeats) slot k's request, sends it and reads the answer.
func (w *worker) send(ctx context.Context, k int64) outcome {
	cfg := &w.g.cfg
	k += cfg.Offset
	var req sent
	dup := cfg.DuplicateRatio > 0 && len(w.history) > 0 && w.rng.Float64() < cfg.DuplicateRatio
	if dup {
		req = w.history[w.rng.IntN(len(w.history))]
	} else {
		req = sent{body: w.g.body(k, cfg.Now()), cred: int(k % int64(len(cfg.Credentials)))}
		if len(w.history) < historySize {
			w.history = append(w.history, req)
		} else {
			w.history[k%historySize] = req
		}
	}
	o := w.do(ctx, req)
	o.duplicate = dup
	return o
}

func (w *worker) do(ctx context.Context, s sent) outcome {
	cfg := &w.g.cfg
	records := 1
	if cfg.Operation == OpBatch {
		records = cfg.RecordsPerRequest
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(s.body))
	if err != nil {
		return outcome{code: "Transport", message: err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", cfg.Operation.Target())
	sum := sha256.Sum256(s.body)
	if err := w.g.signer.SignHTTP(ctx, cfg.Credentials[s.cred], req, hex.EncodeToString(sum[:]), SigningName, cfg.Region, cfg.Now()); err != nil {
		return outcome{code: "Signing", message: err.Error()}
	}
	resp, err := w.g.client.Do(req)
	if err != nil {
		return outcome{code: clientErrorClass(err), message: err.Error()}
	}
	w.resp.Reset()
	_, err = w.resp.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return outcome{code: clientErrorClass(err), message: err.Error()}
	}
	if resp.StatusCode != http.StatusOK {
		code := resp.Header.Get("X-Amzn-ErrorType")
		// AWS may append ":<documentation URL>" to the code.
		code, _, _ = strings.Cut(code, ":")
		if code == "" {
			code = fmt.Sprintf("HTTP %d", resp.StatusCode)
		}
		return outcome{code: code, message: clip(w.resp.String())}
	}
	o := outcome{ok: true, records: records, succeeded: 1}
	if cfg.Operation == OpBatch {
		o.succeeded = CountSuccess(w.resp.Bytes())
	}
	return o
}

// CountSuccess counts the results of a BatchMeterUsage answer whose Status
// is Success. It allows whitespace around the colon, because servers other
// than meterd (moto's json.dumps) write "Status": "Success", and it does
// not decode the answer, whose cost would count against the generator.
func CountSuccess(body []byte) int {
	const key, value = `"Status"`, `"Success"`
	n := 0
	for {
		i := bytes.Index(body, []byte(key))
		if i < 0 {
			return n
		}
		body = bytes.TrimLeft(body[i+len(key):], " \t\r\n")
		if len(body) == 0 || body[0] != ':' {
			continue
		}
		body = bytes.TrimLeft(body[1:], " \t\r\n")
		if bytes.HasPrefix(body, []byte(value)) {
			n++
			body = body[len(value):]
		}
	}
}

func clientErrorClass(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "Canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "Timeout"
	}
	return "Transport"
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
