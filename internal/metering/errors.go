package metering

import (
	"errors"
	"fmt"
)

// Kind classifies a refusal. The kinds follow AWS's modelled exceptions one
// to one, because the distinctions are AWS's; front ends map each kind to
// their own wire names and status codes in one table.
type Kind int

// Error kinds.
const (
	KindInternal Kind = iota
	KindValidation
	KindInvalidProductCode
	KindInvalidUsageDimension
	KindInvalidTag
	KindInvalidUsageAllocations
	KindInvalidCustomerIdentifier
	KindInvalidLicense
	KindInvalidEndpointRegion
	KindTimestampOutOfBounds
	KindDuplicateRequest
	KindIdempotencyConflict
	KindCustomerNotEntitled
	KindDryRun // the "success" answer to a DryRun request
	KindThrottling
	KindUnavailable // an operation this version does not serve
	KindInvalidToken
	KindExpiredToken
	KindInvalidParameter
	KindInvalidPublicKeyVersion
	KindPlatformNotSupported
	KindInvalidRegion
)

var kindNames = map[Kind]string{
	KindInternal:                  "internal",
	KindValidation:                "validation",
	KindInvalidProductCode:        "invalid product code",
	KindInvalidUsageDimension:     "invalid usage dimension",
	KindInvalidTag:                "invalid tag",
	KindInvalidUsageAllocations:   "invalid usage allocations",
	KindInvalidCustomerIdentifier: "invalid customer identifier",
	KindInvalidLicense:            "invalid license",
	KindInvalidEndpointRegion:     "invalid endpoint region",
	KindTimestampOutOfBounds:      "timestamp out of bounds",
	KindDuplicateRequest:          "duplicate request",
	KindIdempotencyConflict:       "idempotency conflict",
	KindCustomerNotEntitled:       "customer not entitled",
	KindDryRun:                    "dry run",
	KindThrottling:                "throttling",
	KindUnavailable:               "unavailable",
	KindInvalidToken:              "invalid token",
	KindExpiredToken:              "expired token",
	KindInvalidParameter:          "invalid parameter",
	KindInvalidPublicKeyVersion:   "invalid public key version",
	KindPlatformNotSupported:      "platform not supported",
	KindInvalidRegion:             "invalid region",
}

func (k Kind) String() string { return kindNames[k] }

// Error is a refusal with a message fit for the client.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error of the given kind.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of err, KindInternal for errors that are not *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}
