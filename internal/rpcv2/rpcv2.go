// Package rpcv2 speaks Smithy RPC v2 CBOR (smithy.protocols#rpcv2Cbor), the
// protocol the Go SDK prefers for the Entitlement service: strict, bounded
// request decoding of CBOR (RFC 8949) into Go structs, and the response and
// error envelopes SDKs parse. It knows nothing about metering; it is to CBOR
// what package awsproto is to awsJson1_1, and it reports client errors as
// *awsproto.Error so that both protocols share one error table. The CBOR
// itself is read and written by github.com/fxamacker/cbor; this package adds
// Smithy's rules on top (member names, absent members, strict integers,
// timestamps smithy-go reads exactly, member paths in errors).
//
// Go values map to CBOR as follows, both ways. Struct members are named by
// their `cbor` tag, else their `json` tag, else the field name; names match
// exactly. string: text string; bool: true/false; integers: major types 0
// and 1; floats: floating point (integers are accepted on decode); []byte:
// byte string; slices: arrays; map[string]T: maps with text keys; time.Time
// and structs that only embed a time.Time: tag 1 around epoch seconds. A nil
// pointer, slice or map member is omitted on encode; CBOR null or undefined
// leaves the member absent on decode.
package rpcv2

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/meterd/meterd/internal/awsproto"
)

const (
	// ContentType is the media type of request and response bodies.
	ContentType = "application/cbor"
	// ProtocolHeader names the header that identifies the protocol on
	// requests and (as the specification requires) on every response.
	ProtocolHeader = "Smithy-Protocol"
	// Protocol is ProtocolHeader's value.
	Protocol = "rpc-v2-cbor"
)

// CheckContentType accepts application/cbor, with parameters and in any
// case. An absent Content-Type is accepted too: SDKs leave it out when the
// body is empty, and an empty body reads as an empty map.
func CheckContentType(h string) error {
	mt, _, _ := strings.Cut(h, ";")
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case "", ContentType:
		return nil
	}
	return awsproto.SerializationError("Content-Type %q is not supported on this path; send %s.", h, ContentType)
}

// WriteResponse answers 200 with v as a CBOR body.
func WriteResponse(w http.ResponseWriter, v any) {
	body, err := Marshal(v)
	if err != nil {
		WriteError(w, awsproto.Errorf(http.StatusInternalServerError, "InternalServiceErrorException", "The response could not be encoded."))
		return
	}
	setHeaders(w.Header(), len(body))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// WriteError answers with the envelope smithy-go and the other SDKs read: a
// CBOR map {"__type": code, "message": msg}. smithy-go takes the code only
// from the body's __type and the message only from lower-case message, so
// every error on this protocol must carry this body. The code is bare, as
// in awsproto.WriteError; X-Amzn-ErrorType repeats it for people reading
// traffic (SDKs do not need it on this protocol).
func WriteError(w http.ResponseWriter, e *awsproto.Error) {
	msg := e.Message
	if msg == "" {
		msg = e.Code
	}
	body := ErrorBody(e.Code, msg)
	h := w.Header()
	setHeaders(h, len(body))
	h.Set("X-Amzn-ErrorType", e.Code)
	status := e.Status
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	w.Write(body)
}

// ErrorBody is the error envelope, in the form smithy-go itself writes it
// (its response snapshots): an indefinite-length map, __type first. It is
// written with fxamacker's streaming encoder (StartIndefiniteMap, the four
// strings, EndIndefinite); writing to a bytes.Buffer cannot fail.
func ErrorBody(code, message string) []byte {
	var b bytes.Buffer
	enc := encMode.NewEncoder(&b)
	enc.StartIndefiniteMap()
	for _, s := range [...]string{"__type", code, "message", message} {
		enc.Encode(strings.ToValidUTF8(s, "\uFFFD"))
	}
	enc.EndIndefinite()
	return b.Bytes()
}

func setHeaders(h http.Header, n int) {
	h.Set(ProtocolHeader, Protocol)
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(n))
}
