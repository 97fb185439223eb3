// Package awsproto speaks the AWS JSON 1.1 protocol (awsJson1_1) that every
// AWS SDK uses for the Marketplace Metering service: target routing, lenient
// request decoding, and the response and error envelopes SDKs parse into
// their typed results and exceptions. It knows nothing about metering.
package awsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// ContentType is the media type of awsJson1_1 bodies.
const ContentType = "application/x-amz-json-1.1"

// MaxBodyBytes is the largest request body accepted. AWS documents a request
// limit of "less than 1 MB" for BatchMeterUsage without naming the error.
const MaxBodyBytes = 1 << 20

// Error is a protocol-level answer: an AWS error code, its HTTP status and a
// message for the client.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// SerializationError reports a body that is not the JSON the operation takes.
func SerializationError(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, "SerializationException", format, args...)
}

// ReadBody reads at most MaxBodyBytes of r's body. A longer body is refused
// with 413 and a JSON error, so that SDKs still see an error code.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, tooLarge(r.ContentLength)
	}
	var buf bytes.Buffer
	// Grow from what arrives, trusting Content-Length only up to a small
	// size: slow clients declaring 1 MiB must not each pin 1 MiB.
	if r.ContentLength > 0 {
		buf.Grow(int(min(r.ContentLength, 64<<10)))
	}
	n, err := buf.ReadFrom(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, SerializationError("Could not read the request body: %v", err)
	}
	if n > MaxBodyBytes {
		return nil, tooLarge(n)
	}
	return buf.Bytes(), nil
}

func tooLarge(n int64) *Error {
	return Errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLargeException",
		"Request body of %d bytes or more exceeds the limit of %d bytes.", n, MaxBodyBytes)
}

// CheckContentType accepts the JSON media types SDKs send, with parameters.
func CheckContentType(h string) error {
	mt, _, _ := strings.Cut(h, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "", ContentType, "application/x-amz-json-1.0", "application/json":
		return nil
	}
	return SerializationError("Content-Type %q is not supported; send %s.", h, ContentType)
}

// Decode reads an awsJson1_1 request body into v, a pointer to a struct whose
// members are pointers (absent and null stay nil). Unknown members are
// ignored: clients may be newer than the server [inferred, docs/aws-api.md 3].
// An empty body reads as {}.
func Decode(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil
	}
	if trimmed[0] != '{' {
		return SerializationError("The request body must be a JSON object.")
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		return describe(err)
	}
	return nil
}

func describe(err error) *Error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe *Error
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &se):
		return SerializationError("The request body is not valid JSON: %v (at byte %d).", se, se.Offset)
	case errors.As(err, &te):
		if te.Field == "" {
			return SerializationError("A JSON %s cannot be read as %s.", te.Value, typeName(te.Type.String()))
		}
		return SerializationError("Value of type %s at '%s' cannot be read as %s.", te.Value, te.Field, typeName(te.Type.String()))
	default:
		return SerializationError("The request body could not be read: %v.", err)
	}
}

func typeName(goType string) string {
	goType = strings.TrimLeft(goType, "*[]")
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "int"), goType == "awsproto.Integer":
		return "an integer"
	case goType == "awsproto.Timestamp":
		return "a timestamp (epoch seconds or ISO 8601)"
	case strings.Contains(goType, "."):
		return "a structure or list"
	}
	return goType
}

// Integer is an integer member. A number beyond int64 saturates, so that the
// range check reports it instead of the decoder.
type Integer int64

// UnmarshalJSON accepts any JSON number with an integral value.
func (n *Integer) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) == 0 || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: integerType}
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		*n = Integer(i)
		return nil
	} else if errors.Is(err, strconv.ErrRange) {
		*n = saturate(s[0] == '-')
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return &json.UnmarshalTypeError{Value: "number " + s, Type: integerType}
	}
	if f != float64(int64(f)) {
		if f >= 9.2e18 || f <= -9.2e18 {
			*n = saturate(f < 0)
			return nil
		}
		return &json.UnmarshalTypeError{Value: "number " + s, Type: integerType}
	}
	*n = Integer(int64(f))
	return nil
}

var integerType = reflect.TypeOf(Integer(0))

func saturate(negative bool) Integer {
	if negative {
		return Integer(-1 << 63)
	}
	return Integer(1<<63 - 1)
}

// Int64 returns a pointer to n's value, nil for nil.
func (n *Integer) Int64() *int64 {
	if n == nil {
		return nil
	}
	v := int64(*n)
	return &v
}

func jsonKind(b []byte) string {
	if len(b) == 0 {
		return "value"
	}
	switch b[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

// WriteJSON answers 200 with v as the awsJson1_1 body.
func WriteJSON(w http.ResponseWriter, v any) {
	if a, ok := v.(JSONAppender); ok {
		buf := bodies.Get().(*[]byte)
		body := a.AppendJSON((*buf)[:0])
		writeBody(w, body)
		if cap(body) <= maxPooledBody {
			*buf = body
			bodies.Put(buf)
		}
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		WriteError(w, Errorf(http.StatusInternalServerError, "InternalServiceErrorException", "The response could not be encoded."))
		return
	}
	writeBody(w, body)
}

func writeBody(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// bodies are buffers for answers that encode themselves: net/http copies
// the body before Write returns. One over maxPooledBody (a batch of
// unusually long strings) is left to the garbage collector.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

const maxPooledBody = 64 << 10

// WriteError answers with the error envelope every SDK parses: a bare
// __type (no namespace, no suffix: R and Perl clients cannot clean one), a
// non-empty message, and the same code in X-Amzn-ErrorType.
func WriteError(w http.ResponseWriter, e *Error) {
	msg := e.Message
	if msg == "" {
		msg = e.Code
	}
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, msg})
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("X-Amzn-ErrorType", e.Code)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.Status)
	w.Write(body)
}
