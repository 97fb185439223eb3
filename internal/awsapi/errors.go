package awsapi

import (
	"net/http"

	"github.com/meterd/meterd/internal/awsproto"
	"github.com/meterd/meterd/internal/metering"
)

// wireErrors is the one table from domain error kinds to AWS error codes
// and HTTP status. Modelled errors carry no httpError trait except
// IdempotencyConflictException, so client errors are 400 and the fault 500
// (docs/aws-api.md 3; the Go SDK's response snapshots show the same).
var wireErrors = map[metering.Kind]struct {
	status int
	code   string
}{
	metering.KindInternal:                  {http.StatusInternalServerError, "InternalServiceErrorException"},
	metering.KindValidation:                {http.StatusBadRequest, "ValidationException"},
	metering.KindInvalidProductCode:        {http.StatusBadRequest, "InvalidProductCodeException"},
	metering.KindInvalidUsageDimension:     {http.StatusBadRequest, "InvalidUsageDimensionException"},
	metering.KindInvalidTag:                {http.StatusBadRequest, "InvalidTagException"},
	metering.KindInvalidUsageAllocations:   {http.StatusBadRequest, "InvalidUsageAllocationsException"},
	metering.KindInvalidCustomerIdentifier: {http.StatusBadRequest, "InvalidCustomerIdentifierException"},
	metering.KindInvalidLicense:            {http.StatusBadRequest, "InvalidLicenseException"},
	metering.KindInvalidEndpointRegion:     {http.StatusBadRequest, "InvalidEndpointRegionException"},
	metering.KindTimestampOutOfBounds:      {http.StatusBadRequest, "TimestampOutOfBoundsException"},
	metering.KindDuplicateRequest:          {http.StatusBadRequest, "DuplicateRequestException"},
	metering.KindIdempotencyConflict:       {http.StatusConflict, "IdempotencyConflictException"},
	metering.KindCustomerNotEntitled:       {http.StatusBadRequest, "CustomerNotEntitledException"},
	// DryRunOperation is not modelled and its status not documented; EC2
	// answers the same code with 412, and every SDK reads it as a generic
	// API error with that code [inferred, docs/aws-api.md 5].
	metering.KindDryRun:      {http.StatusPreconditionFailed, "DryRunOperation"},
	metering.KindThrottling:  {http.StatusBadRequest, "ThrottlingException"},
	metering.KindUnavailable: {http.StatusBadRequest, "DisabledApiException"},
	// ExpiredTokenException shares its name with STS's expired-session
	// error; SDKs map both to the modelled ResolveCustomer type (3).
	metering.KindInvalidToken:            {http.StatusBadRequest, "InvalidTokenException"},
	metering.KindExpiredToken:            {http.StatusBadRequest, "ExpiredTokenException"},
	metering.KindInvalidParameter:        {http.StatusBadRequest, "InvalidParameterException"},
	metering.KindInvalidPublicKeyVersion: {http.StatusBadRequest, "InvalidPublicKeyVersionException"},
	metering.KindPlatformNotSupported:    {http.StatusBadRequest, "PlatformNotSupportedException"},
	metering.KindInvalidRegion:           {http.StatusBadRequest, "InvalidRegionException"},
}

// wireError converts err to the wire envelope. Internal errors keep their
// detail out of the answer; the caller logs it.
func wireError(err error) *awsproto.Error {
	if pe, ok := err.(*awsproto.Error); ok {
		return pe
	}
	kind := metering.KindOf(err)
	w := wireErrors[kind]
	msg := err.Error()
	if kind == metering.KindInternal {
		msg = "An internal error occurred. Retry the request."
	}
	return &awsproto.Error{Status: w.status, Code: w.code, Message: msg}
}
