// Package awsapi serves the AWS Marketplace Metering operations over the
// awsJson1_1 protocol: it authenticates each request with SigV4, decodes it,
// hands it to metering.Service and encodes the answer or the AWS error.
package awsapi

import (
	"context"
	"log/slog"
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
	ops      map[string]operation // awsJson1_1, by X-Amz-Target
	cborOps  map[string]operation // RPC v2 CBOR, by service.operation from the path
}

// Options configure a Handler.
type Options struct {
	Service *metering.Service
	Logger  *slog.Logger
	Clock   metering.Clock
	// Skew is the SigV4 clock-skew window; default 5 minutes.
	Skew time.Duration
}

// New returns the data-plane handler.
func New(opts Options) *Handler {
	h := &Handler{svc: opts.Service, logger: opts.Logger}
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
	return h
}

// ServeHTTP answers one awsJson1_1 request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := uuid.NewString()
	w.Header().Set("x-amzn-RequestId", requestID)
	start := time.Now()
	target, c, ops := h.route(r)
	code, err := h.serve(w, r, target, c, ops)
	level := slog.LevelInfo
	if code == "InternalServiceErrorException" {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("request_id", requestID),
		slog.String("target", target),
		slog.Duration("duration", time.Since(start)),
	}
	if code != "" {
		attrs = append(attrs, slog.String("error_code", code))
	}
	if err != nil && code == "InternalServiceErrorException" {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	h.logger.LogAttrs(r.Context(), level, "request", attrs...)
}

// codec is one wire protocol SDKs use: awsJson1_1 for everything, and
// Smithy RPC v2 CBOR, which the Go SDK prefers for GetEntitlements (4).
type codec interface {
	checkContentType(contentType string) error
	writeResult(w http.ResponseWriter, v any)
	writeError(w http.ResponseWriter, e *awsproto.Error)
}

type jsonCodec struct{}

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

// serve returns the error code it answered with, if any, and the error
// behind it for the log.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, target string, c codec, ops map[string]operation) (string, error) {
	fail := func(err error) (string, error) {
		e := wireError(err)
		c.writeError(w, e)
		return e.Code, err
	}
	if r.Method != http.MethodPost {
		return fail(awsproto.Errorf(http.StatusMethodNotAllowed, "UnknownOperationException",
			"The data plane takes POST requests with an X-Amz-Target header."))
	}
	body, err := awsproto.ReadBody(r)
	if err != nil {
		return fail(err)
	}
	auth, err := h.verifier.Verify(r, body)
	if err != nil {
		if se, ok := err.(*sigv4.Error); ok {
			return fail(awsproto.Errorf(authStatus(se.Code), se.Code, "%s", se.Message))
		}
		return fail(err)
	}
	op, ok := ops[target]
	if !ok {
		return fail(awsproto.Errorf(http.StatusBadRequest, "UnknownOperationException",
			"Operation %q is not an operation of the Marketplace Metering or Entitlement services.", target))
	}
	region := h.svc.Config().Region
	if auth.Region != region && !regionalErrors[target] {
		return fail(awsproto.Errorf(http.StatusForbidden, sigv4.CodeInvalid,
			"Credential should be scoped to a valid region, not '%s'. This endpoint serves '%s'.", auth.Region, region))
	}
	if err := c.checkContentType(r.Header.Get("Content-Type")); err != nil {
		return fail(err)
	}
	caller, _ := h.svc.Caller(auth.AccessKeyID, auth.Region)
	out, err := op(r.Context(), caller, body)
	if err != nil {
		return fail(err)
	}
	c.writeResult(w, out)
	return "", nil
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
