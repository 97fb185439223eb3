// Package awsapi serves the AWS Marketplace Metering operations over the
// awsJson1_1 protocol: it authenticates each request with SigV4, decodes it,
// hands it to metering.Service and encodes the answer or the AWS error.
package awsapi

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/meterd/meterd/internal/awsproto"
	"github.com/meterd/meterd/internal/metering"
	"github.com/meterd/meterd/internal/sigv4"
)

// SigningName is the SigV4 service name both Marketplace services sign with.
const SigningName = "aws-marketplace"

// Target prefixes of the two services' X-Amz-Target headers.
const (
	MeteringPrefix    = "AWSMPMeteringService."
	EntitlementPrefix = "AWSMPEntitlementService."
)

type operation func(ctx context.Context, caller metering.Caller, body []byte) (any, error)

// Handler serves the data plane at POST /.
type Handler struct {
	svc      *metering.Service
	verifier *sigv4.Verifier
	logger   *slog.Logger
	observer Observer
	hooks    Hooks
	unproc   func(ctx context.Context, accountID string, n int) []int
	ops      map[string]operation // awsJson1_1, by X-Amz-Target
	cborOps  map[string]operation // RPC v2 CBOR, by service.operation from the path
}

// Observer is told of every request and record, for metrics.
type Observer interface {
	ObserveRequest(operation, errorCode string, d time.Duration)
	ObserveRecords(operation, status string, n int)
}

type noObserver struct{}

func (noObserver) ObserveRequest(string, string, time.Duration) {}
func (noObserver) ObserveRecords(string, string, int)           {}

// Options configure a Handler.
type Options struct {
	Observer Observer // optional
	Hooks    Hooks    // optional
	Service  *metering.Service
	Logger   *slog.Logger
	Clock    metering.Clock
	// Skew is the SigV4 clock-skew window; default 5 minutes.
	Skew time.Duration
	// Unprocessed, if set, picks which of a BatchMeterUsage call's n
	// records (indexes) to return in UnprocessedRecords instead of
	// metering them (test controls' fault injection).
	Unprocessed func(ctx context.Context, accountID string, n int) []int
}

// New returns the data-plane handler.
func New(opts Options) *Handler {
	h := &Handler{svc: opts.Service, logger: opts.Logger, observer: opts.Observer}
	if h.observer == nil {
		h.observer = noObserver{}
	}
	h.hooks, h.unproc = opts.Hooks, opts.Unprocessed
	if h.hooks == nil {
		h.hooks = NoHooks{}
	}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	clock := opts.Clock
	if clock == nil {
		clock = metering.SystemClock{}
	}
	h.verifier = &sigv4.Verifier{
		Service: SigningName,
		Skew:    opts.Skew,
		Now:     clock.Now,
		Secret:  opts.Service.Secret,
	}
	h.ops = map[string]operation{
		MeteringPrefix + "MeterUsage":         h.meterUsage,
		MeteringPrefix + "BatchMeterUsage":    h.batchMeterUsage,
		MeteringPrefix + "RegisterUsage":      h.registerUsage,
		MeteringPrefix + "ResolveCustomer":    h.resolveCustomer,
		EntitlementPrefix + "GetEntitlements": h.getEntitlements,
	}
	h.cborOps = cborOperations(h)
	return h
}

// ServeHTTP answers one data-plane request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	call := &Call{
		RequestID: uuid.NewString(),
		Time:      time.Now(),
		SourceIP:  sourceIP(r),
		UserAgent: r.UserAgent(),
	}
	w.Header().Set("x-amzn-RequestId", call.RequestID)
	target, c, ops := h.route(r)
	call.Target = target
	// Label by known operation only, so hostile targets cannot grow the
	// metric's cardinality.
	call.Operation = "unknown"
	if _, ok := ops[target]; ok {
		call.Operation = target[strings.IndexByte(target, '.')+1:]
	}
	err := h.serve(w, r, call, c, ops)
	call.Duration = time.Since(call.Time)
	h.observer.ObserveRequest(call.Operation, call.ErrorCode, call.Duration)
	h.hooks.After(r.Context(), call)

	level := slog.LevelInfo
	if call.ErrorCode == "InternalServiceErrorException" {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("request_id", call.RequestID),
		slog.String("operation", call.Operation),
		slog.Int("status", call.Status),
		slog.Duration("duration", call.Duration),
	}
	if call.AccessKeyID != "" {
		attrs = append(attrs, slog.String("access_key_id", call.AccessKeyID), slog.String("account", call.AccountID))
	}
	if call.ErrorCode != "" {
		attrs = append(attrs, slog.String("error_code", call.ErrorCode))
	}
	if err != nil && call.ErrorCode == "InternalServiceErrorException" {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	h.logger.LogAttrs(r.Context(), level, "request", attrs...)
}

func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// codec is one wire protocol SDKs use: awsJson1_1 for everything, and
// Smithy RPC v2 CBOR, which the Go SDK prefers for GetEntitlements (4).
type codec interface {
	name() string
	checkContentType(contentType string) error
	writeResult(w http.ResponseWriter, v any)
	writeError(w http.ResponseWriter, e *awsproto.Error)
}

type jsonCodec struct{}

func (jsonCodec) name() string                                        { return "awsJson1_1" }
func (jsonCodec) checkContentType(ct string) error                    { return awsproto.CheckContentType(ct) }
func (jsonCodec) writeResult(w http.ResponseWriter, v any)            { awsproto.WriteJSON(w, v) }
func (jsonCodec) writeError(w http.ResponseWriter, e *awsproto.Error) { awsproto.WriteError(w, e) }

// route picks the protocol from the request's form: an RPC v2 path
// (matched by suffix, since a custom endpoint may add a prefix) or the
// X-Amz-Target header of awsJson1_1.
func (h *Handler) route(r *http.Request) (target string, c codec, ops map[string]operation) {
	const svcMark, opMark = "/service/", "/operation/"
	if i := strings.LastIndex(r.URL.Path, svcMark); i >= 0 {
		rest := r.URL.Path[i+len(svcMark):]
		if svc, op, ok := strings.Cut(rest, opMark); ok && svc != "" && op != "" && !strings.Contains(op, "/") {
			return svc + "." + op, cborCodec{}, h.cborOps
		}
	}
	return r.Header.Get("X-Amz-Target"), jsonCodec{}, h.ops
}

// regionalErrors are the operations whose model has its own error for a
// request signed for another region.
var regionalErrors = map[string]bool{
	MeteringPrefix + "MeterUsage":    true, // InvalidEndpointRegionException
	MeteringPrefix + "RegisterUsage": true, // InvalidRegionException
}

// serve answers the call, filling in what it learns, and returns the
// error behind a refusal for the log.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, call *Call, c codec, ops map[string]operation) error {
	call.Status = http.StatusOK
	fail := func(err error) error {
		e := wireError(err)
		c.writeError(w, e)
		call.Status, call.ErrorCode, call.ErrorMessage = e.Status, e.Code, e.Message
		return err
	}
	if r.Method != http.MethodPost {
		return fail(awsproto.Errorf(http.StatusMethodNotAllowed, "UnknownOperationException",
			"The data plane takes POST requests (awsJson1_1 with X-Amz-Target, or RPC v2 CBOR)."))
	}
	body, err := awsproto.ReadBody(r)
	if err != nil {
		return fail(err)
	}
	call.Body, call.Protocol = body, c.name()
	auth, err := h.verifier.Verify(r, body)
	if err != nil {
		if se, ok := err.(*sigv4.Error); ok {
			return fail(awsproto.Errorf(authStatus(se.Code), se.Code, "%s", se.Message))
		}
		return fail(err)
	}
	call.AccessKeyID, call.Region = auth.AccessKeyID, auth.Region
	caller, _ := h.svc.Caller(auth.AccessKeyID, auth.Region)
	call.AccountID = caller.AccessKey.AccountID
	op, ok := ops[call.Target]
	if !ok {
		return fail(awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException",
			"Operation %q is not an operation of the Marketplace Metering or Entitlement services.", call.Target))
	}
	region := h.svc.Config().Region
	if auth.Region != region && !regionalErrors[call.Target] {
		return fail(awsproto.Errorf(http.StatusForbidden, sigv4.CodeInvalid,
			"Credential should be scoped to a valid region, not '%s'. This endpoint serves '%s'.", auth.Region, region))
	}
	if err := c.checkContentType(r.Header.Get("Content-Type")); err != nil {
		return fail(err)
	}
	if err := h.hooks.Before(r.Context(), call); err != nil {
		return fail(err)
	}
	out, err := op(r.Context(), caller, body)
	if err != nil {
		return fail(err)
	}
	call.Response = out
	_, call.BodyDecoded = c.(jsonCodec)
	c.writeResult(w, out)
	return nil
}

// authStatus follows AWS's common errors table: a missing or unusable
// signature is 400, a credential that does not authenticate is 403.
func authStatus(code string) int {
	switch code {
	case sigv4.CodeIncomplete:
		return http.StatusBadRequest
	default:
		return http.StatusForbidden
	}
}
