package adminapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/meterd/meterd/internal/metering"
)

// Error codes of the admin API.
const (
	CodeUnauthorized     = "unauthorized"
	CodeValidation       = "validation"
	CodeNotFound         = "not_found"
	CodeConflict         = "conflict"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// Error is an admin API error, as the server writes it and the Client
// returns it: {"error": {"code": …, "message": …, "problems": […]}}.
type Error struct {
	Status  int    `json:"-"` // the HTTP status
	Code    string `json:"code"`
	Message string `json:"message"`
	// Problems lists each problem of a state file or a resource, with the
	// line it is on for state files.
	Problems []Problem `json:"problems,omitempty"`
}

// Problem is one thing wrong with a request body.
type Problem struct {
	Line    int    `json:"line,omitempty"` // 1-based line in a state file
	Path    string `json:"path,omitempty"` // the key, as in "customers[2].product"
	Message string `json:"message"`
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		if p.Line > 0 {
			fmt.Fprintf(&b, "line %d: ", p.Line)
		}
		if p.Path != "" {
			b.WriteString(p.Path + ": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// kindErrors is the one table from the domain's error kinds to the admin
// API's status and code. The kinds follow AWS's exceptions; here they fold
// into the few an admin needs: a bad request, a missing product, a
// customer in the wrong state.
var kindErrors = map[metering.Kind]struct {
	status int
	code   string
}{
	metering.KindInternal:                  {http.StatusInternalServerError, CodeInternal},
	metering.KindValidation:                {http.StatusBadRequest, CodeValidation},
	metering.KindInvalidProductCode:        {http.StatusNotFound, CodeNotFound},
	metering.KindInvalidUsageDimension:     {http.StatusBadRequest, CodeValidation},
	metering.KindInvalidTag:                {http.StatusBadRequest, CodeValidation},
	metering.KindInvalidUsageAllocations:   {http.StatusBadRequest, CodeValidation},
	metering.KindInvalidCustomerIdentifier: {http.StatusNotFound, CodeNotFound},
	metering.KindInvalidLicense:            {http.StatusNotFound, CodeNotFound},
	metering.KindInvalidEndpointRegion:     {http.StatusBadRequest, CodeValidation},
	metering.KindTimestampOutOfBounds:      {http.StatusBadRequest, CodeValidation},
	metering.KindDuplicateRequest:          {http.StatusConflict, CodeConflict},
	metering.KindIdempotencyConflict:       {http.StatusConflict, CodeConflict},
	// Unsubscribing a customer without an active agreement.
	metering.KindCustomerNotEntitled:     {http.StatusConflict, CodeConflict},
	metering.KindDryRun:                  {http.StatusBadRequest, CodeValidation},
	metering.KindThrottling:              {http.StatusTooManyRequests, CodeUnavailable},
	metering.KindUnavailable:             {http.StatusNotImplemented, CodeUnavailable},
	metering.KindInvalidToken:            {http.StatusNotFound, CodeNotFound},
	metering.KindExpiredToken:            {http.StatusConflict, CodeConflict},
	metering.KindInvalidParameter:        {http.StatusBadRequest, CodeValidation},
	metering.KindInvalidPublicKeyVersion: {http.StatusNotFound, CodeNotFound},
	metering.KindPlatformNotSupported:    {http.StatusBadRequest, CodeValidation},
	metering.KindInvalidRegion:           {http.StatusBadRequest, CodeValidation},
}

// asError converts any handler error to the wire form. Internal errors
// lose their detail, which only the log sees.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var se *metering.StateError
	if errors.As(err, &se) {
		return stateError(se, "")
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, CodeValidation, "The request body is larger than %d bytes.", mbe.Limit)
	}
	kind := metering.KindOf(err)
	m, ok := kindErrors[kind]
	if !ok || kind == metering.KindInternal {
		return errorf(http.StatusInternalServerError, CodeInternal, "An internal error occurred; the server log has the details.")
	}
	return &Error{Status: m.status, Code: m.code, Message: err.Error()}
}

// stateError lists a *metering.StateError's problems. Paths under prefix
// (as "products[0].") lose it, so that a single resource's problems name
// its own fields.
func stateError(se *metering.StateError, prefix string) *Error {
	e := errorf(http.StatusBadRequest, CodeValidation, "The request is not valid.")
	for _, p := range se.Problems {
		e.Problems = append(e.Problems, Problem{Path: strings.TrimPrefix(p.Path, prefix), Message: p.Message})
	}
	return e
}

// resourceError rewrites the errors of applying one resource: state
// problems name the resource's fields.
func resourceError(err error, prefix string) error {
	var se *metering.StateError
	if errors.As(err, &se) {
		return stateError(se, prefix)
	}
	return err
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := asError(err)
	if e.Status >= 500 {
		s.o.Logger.Error("admin api", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	writeJSON(w, e.Status, map[string]*Error{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
