// Package sigv4 verifies requests signed with AWS Signature Version 4 in the
// Authorization header, the way the AWS front end does for the Marketplace
// services.
//
// The project keeps low-level packages on the standard library alone. This one
// differs on purpose: it imports the official aws-sdk-go-v2 signer and never
// computes a canonical request, string to sign or signing key itself. A
// verifier is only as good as its agreement with the clients' signers, and
// hand-rolled SigV4 code is where subtle mismatches (path escaping, header
// value trimming, query encoding) and crypto bugs hide. Verify therefore
// rebuilds the request as the client signed it, lets the SDK signer sign it
// with the secret the access key maps to, and compares the two signatures.
// The price is that a request is accepted only if the AWS signer could have
// produced it: a client that signs a header the signer never signs (such as
// user-agent) is refused with a message that says so.
package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// AWS error codes a refusal carries.
const (
	CodeMissingToken = "MissingAuthenticationTokenException"
	CodeIncomplete   = "IncompleteSignatureException"
	CodeInvalid      = "InvalidSignatureException"
	CodeUnrecognized = "UnrecognizedClientException"
)

// DefaultSkew is the clock skew AWS tolerates between a request's time and
// its own clock.
const DefaultSkew = 5 * time.Minute

const (
	algorithm       = "AWS4-HMAC-SHA256"
	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"
	terminator      = "aws4_request"
	unsignedPayload = "UNSIGNED-PAYLOAD"
)

// Error is a refusal; Code is the AWS error code.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Verifier checks SigV4 header signatures. Its fields are read-only after
// first use, so one Verifier serves concurrent requests.
type Verifier struct {
	// Service is the signing name the credential scope must carry, e.g.
	// "aws-marketplace". It is required: an empty Service matches no request.
	Service string
	// Skew is the allowed clock skew; DefaultSkew when zero.
	Skew time.Duration
	// Now is the injected clock; time.Now when nil.
	Now func() time.Time
	// Secret returns the secret access key of an access key ID. A nil Secret
	// knows no keys.
	Secret func(accessKeyID string) (secret string, ok bool)

	// signers holds one SDK signer per access key ID and secret (a
	// signerKey): the signer caches the keys it derives for a day, region
	// and service, which spares four HMACs a request. A Verifier must not
	// be copied after first use.
	signers     sync.Map // signerKey → *v4.Signer
	signerCount atomic.Int64
}

// signerKey names a cached signer. The secret is part of it because the
// SDK signer caches derived keys by access key ID and day, not by secret:
// a signer shared across secrets would keep accepting a rotated-out secret
// until midnight UTC. Keyed by both, a rotation simply starts a new
// signer.
type signerKey struct{ accessKeyID, secret string }

// maxSigners bounds the signer cache; past it the cache starts again
// empty, which costs each key one signer more.
const maxSigners = 4096

// signer returns the cached signer of creds.
func (v *Verifier) signer(creds aws.Credentials) *v4.Signer {
	k := signerKey{creds.AccessKeyID, creds.SecretAccessKey}
	if s, ok := v.signers.Load(k); ok {
		return s.(*v4.Signer)
	}
	if v.signerCount.Add(1) > maxSigners {
		v.signers.Clear()
		v.signerCount.Store(1)
	}
	s, _ := v.signers.LoadOrStore(k, v4.NewSigner())
	return s.(*v4.Signer)
}

// Result describes a request whose signature verified.
type Result struct {
	AccessKeyID string
	// Region and Service come from the credential scope. The region is not
	// checked: what a foreign region means is the caller's decision.
	Region  string
	Service string
	// SessionToken is the X-Amz-Security-Token header when the signature
	// covers it, else empty. It is not validated.
	SessionToken string
	// SigningTime is the request time the signature was computed for, in UTC.
	SigningTime time.Time
}

// Verify checks r, whose body has already been read into body; it does not
// read r.Body. The error, when not nil, is an *Error.
func (v *Verifier) Verify(r *http.Request, body []byte) (Result, error) {
	res, err := v.verify(r, body)
	if err != nil {
		// Returned as error only when set, so callers never see a typed nil.
		return Result{}, err
	}
	return res, nil
}

func (v *Verifier) verify(r *http.Request, body []byte) (Result, *Error) {
	authValues := r.Header.Values("Authorization")
	if len(authValues) == 0 {
		return Result{}, errorf(CodeMissingToken, "Missing Authentication Token")
	}
	if len(authValues) > 1 {
		return Result{}, errorf(CodeIncomplete, "The request carries %d Authorization headers; send exactly one.", len(authValues))
	}
	auth, err := parseAuthorization(authValues[0])
	if err != nil {
		return Result{}, err
	}
	t, err := requestTime(r.Header)
	if err != nil {
		return Result{}, err
	}

	if auth.service != v.Service {
		return Result{}, errorf(CodeInvalid, "Credential should be scoped to correct service: '%s'.", v.Service)
	}
	if day := t.Format(scopeDateFormat); auth.date != day {
		return Result{}, errorf(CodeInvalid,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			auth.date, day, t.Format(amzDateFormat))
	}
	if !slices.Contains(auth.headers, "host") {
		return Result{}, errorf(CodeInvalid, "'Host' must be a 'SignedHeader' in the AWS Authorization.")
	}
	if err := v.checkSkew(t); err != nil {
		return Result{}, err
	}

	// The key lookup may reach a store, so it comes after every check that
	// needs nothing but the request and the clock.
	var secret string
	ok := false
	if v.Secret != nil {
		secret, ok = v.Secret(auth.accessKeyID)
	}
	if !ok {
		return Result{}, errorf(CodeUnrecognized, "The security token included in the request is invalid.")
	}

	for _, name := range auth.headers {
		if !hasHeader(r, name) {
			return Result{}, errorf(CodeInvalid, "Header '%s' is listed in SignedHeaders but is absent from the request.", name)
		}
	}

	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if claimed := r.Header.Values("X-Amz-Content-Sha256"); len(claimed) > 0 {
		switch {
		case len(claimed) > 1:
			return Result{}, errorf(CodeInvalid, "The request carries %d X-Amz-Content-Sha256 headers; send at most one.", len(claimed))
		case claimed[0] == unsignedPayload:
			return Result{}, errorf(CodeInvalid, "X-Amz-Content-Sha256 '%s' is not accepted: this service requires the payload to be signed.", unsignedPayload)
		case claimed[0] != payloadHash:
			return Result{}, errorf(CodeInvalid, "The provided 'x-amz-content-sha256' header does not match what was computed.")
		}
	}

	token := ""
	if slices.Contains(auth.headers, "x-amz-security-token") {
		token = r.Header.Get("X-Amz-Security-Token")
	}
	creds := aws.Credentials{AccessKeyID: auth.accessKeyID, SecretAccessKey: secret, SessionToken: token}

	want, err := expectedAuthorization(v.signer(creds), r, body, auth, creds, payloadHash, t)
	if err != nil {
		return Result{}, err
	}
	if want.signedHeaders != auth.signedHeaders {
		return Result{}, signedHeadersMismatch(auth.headers, want.headers)
	}
	if !hmac.Equal([]byte(want.signature), []byte(strings.ToLower(auth.signature))) {
		return Result{}, errorf(CodeInvalid, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return Result{
		AccessKeyID:  auth.accessKeyID,
		Region:       auth.region,
		Service:      auth.service,
		SessionToken: token,
		SigningTime:  t,
	}, nil
}

// expectedAuthorization signs a copy of r that carries only what the client
// said it signed, so unsigned headers added later by the client or by proxies
// (User-Agent, amz-sdk-invocation-id, …) cannot change the outcome.
func expectedAuthorization(signer *v4.Signer, r *http.Request, body []byte, auth authorization, creds aws.Credentials, payloadHash string, t time.Time) (authorization, *Error) {
	// No scheme: the signer would strip a default port from Host, but the
	// client signed the Host header exactly as it arrived here.
	u := &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	h := make(http.Header, len(auth.headers))
	for _, name := range auth.headers {
		switch name {
		case "host", "content-length":
			// Carried by Request.Host and Request.ContentLength below.
			continue
		}
		// Cloned because the signer overwrites X-Amz-Date and
		// X-Amz-Security-Token in place, and r's slices are the caller's.
		h[http.CanonicalHeaderKey(name)] = slices.Clone(r.Header.Values(name))
	}
	req := &http.Request{
		Method: r.Method,
		URL:    u,
		Host:   r.Host,
		Header: h,
	}
	// The signer signs content-length exactly when ContentLength > 0.
	if slices.Contains(auth.headers, "content-length") {
		req.ContentLength = int64(len(body))
	}

	// The signer is the one of this access key and secret (see signerKey).
	if err := signer.SignHTTP(context.Background(), creds, req, payloadHash, auth.service, auth.region, t); err != nil {
		return authorization{}, errorf(CodeInvalid, "The request cannot be signed for verification: %v", err)
	}
	want, perr := parseAuthorization(req.Header.Get("Authorization"))
	if perr != nil {
		// The SDK wrote a header we cannot read: a bug here, not the client's.
		return authorization{}, errorf(CodeInvalid, "The request cannot be verified: %s", perr.Message)
	}
	return want, nil
}

// signedHeadersMismatch explains why the client's SignedHeaders differ from
// the list the AWS signer produced for the same headers.
func signedHeadersMismatch(client, signer []string) *Error {
	var refused, required []string
	for _, h := range client {
		if !slices.Contains(signer, h) {
			refused = append(refused, h)
		}
	}
	for _, h := range signer {
		if !slices.Contains(client, h) {
			required = append(required, h)
		}
	}
	switch {
	case len(refused) > 0:
		return errorf(CodeInvalid,
			"SignedHeaders includes '%s', which this service cannot verify: the AWS SigV4 signer never signs it. Sign only the headers the AWS SDKs sign.",
			strings.Join(refused, "', '"))
	case len(required) > 0:
		return errorf(CodeInvalid, "SignedHeaders must include '%s'.", strings.Join(required, "', '"))
	default:
		return errorf(CodeInvalid, "SignedHeaders must be lower-case, sorted and free of duplicates: expected '%s'.", strings.Join(signer, ";"))
	}
}

func hasHeader(r *http.Request, name string) bool {
	switch name {
	case "host":
		return r.Host != ""
	case "content-length":
		if r.ContentLength > 0 {
			return true
		}
	}
	return len(r.Header.Values(name)) > 0
}

func (v *Verifier) checkSkew(t time.Time) *Error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	skew := v.Skew
	if skew <= 0 {
		skew = DefaultSkew
	}
	n := now().UTC()
	if earliest := n.Add(-skew); t.Before(earliest) {
		return errorf(CodeInvalid, "Signature expired: %s is now earlier than %s (%s - %s.)",
			t.Format(amzDateFormat), earliest.Format(amzDateFormat), n.Format(amzDateFormat), formatSkew(skew))
	}
	if latest := n.Add(skew); t.After(latest) {
		return errorf(CodeInvalid, "Signature not yet current: %s is still later than %s (%s + %s.)",
			t.Format(amzDateFormat), latest.Format(amzDateFormat), n.Format(amzDateFormat), formatSkew(skew))
	}
	return nil
}

// formatSkew writes the window as AWS does ("5 min") when it is whole minutes.
func formatSkew(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprintf("%d min", d/time.Minute)
	}
	return d.String()
}

// requestTime prefers X-Amz-Date, as AWS does, and falls back to Date, which
// Perl's Paws sends in the X-Amz-Date form and others in RFC 1123.
func requestTime(h http.Header) (time.Time, *Error) {
	if vals := h.Values("X-Amz-Date"); len(vals) > 0 {
		t, err := time.Parse(amzDateFormat, vals[0])
		if err != nil || len(vals) > 1 {
			return time.Time{}, errorf(CodeIncomplete,
				"X-Amz-Date must be one date in the ISO 8601 basic format yyyyMMdd'T'HHmmss'Z', got '%s'.", clip(strings.Join(vals, ", ")))
		}
		return t.UTC(), nil
	}
	if vals := h.Values("Date"); len(vals) > 0 {
		if len(vals) == 1 {
			if t, err := time.Parse(amzDateFormat, vals[0]); err == nil {
				return t.UTC(), nil
			}
			if t, err := http.ParseTime(vals[0]); err == nil {
				return t.UTC(), nil
			}
		}
		return time.Time{}, errorf(CodeIncomplete,
			"Date must be one date in the form yyyyMMdd'T'HHmmss'Z' or RFC 1123, got '%s'.", clip(strings.Join(vals, ", ")))
	}
	return time.Time{}, errorf(CodeIncomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
}

// authorization is a parsed Authorization header.
type authorization struct {
	accessKeyID, date, region, service string // the credential and its scope
	signedHeaders                      string // as sent
	headers                            []string
	signature                          string
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
// Signature=…". The three parts may come in any order, with or without
// spaces after the commas: Perl's Paws sends none.
func parseAuthorization(h string) (authorization, *Error) {
	rest, ok := strings.CutPrefix(h, algorithm)
	if !ok || rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		scheme, _, _ := strings.Cut(h, " ")
		return authorization{}, errorf(CodeIncomplete,
			"Authorization header must use the '%s' algorithm, not '%s'.", algorithm, clip(scheme))
	}
	var a authorization
	var credential string
	seen := map[string]bool{}
	rest = strings.TrimSpace(rest)
	for part := range strings.SplitSeq(rest, ",") {
		if rest == "" {
			break // every parameter is missing; reported below
		}
		part = strings.TrimSpace(part)
		key, value, ok := strings.Cut(part, "=")
		if !ok {
			return authorization{}, errorf(CodeIncomplete,
				"Invalid key=value pair (missing equal-sign) in Authorization header: '%s'.", clip(part))
		}
		if seen[key] {
			return authorization{}, errorf(CodeIncomplete, "Authorization header has more than one '%s' parameter.", clip(key))
		}
		seen[key] = true
		switch key {
		case "Credential":
			credential = value
		case "SignedHeaders":
			a.signedHeaders = value
		case "Signature":
			a.signature = value
		default:
			return authorization{}, errorf(CodeIncomplete, "Authorization header has an unknown parameter '%s'.", clip(key))
		}
	}
	var missing []string
	for _, p := range []struct{ name, value string }{
		{"Credential", credential}, {"Signature", a.signature}, {"SignedHeaders", a.signedHeaders},
	} {
		if p.value == "" {
			missing = append(missing, "Authorization header requires '"+p.name+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return authorization{}, errorf(CodeIncomplete, "%s", strings.Join(missing, " "))
	}

	scope := strings.Split(credential, "/")
	if len(scope) != 5 || slices.Contains(scope, "") {
		return authorization{}, errorf(CodeIncomplete,
			"Credential should have exactly 5 non-empty slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'.", clip(credential))
	}
	a.accessKeyID, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
	if _, err := time.Parse(scopeDateFormat, a.date); err != nil || len(a.date) != len(scopeDateFormat) {
		return authorization{}, errorf(CodeIncomplete, "Credential date must be in the form yyyyMMdd, not '%s'.", clip(a.date))
	}
	if scope[4] != terminator {
		return authorization{}, errorf(CodeIncomplete,
			"Credential should be scoped with a valid terminator: '%s', not '%s'.", terminator, clip(scope[4]))
	}

	a.headers = strings.Split(a.signedHeaders, ";")
	if slices.Contains(a.headers, "") {
		return authorization{}, errorf(CodeIncomplete, "SignedHeaders must be a ';'-separated list of header names, got '%s'.", clip(a.signedHeaders))
	}

	if !isHex64(a.signature) {
		return authorization{}, errorf(CodeIncomplete, "Signature must be 64 hexadecimal characters.")
	}
	return a, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// clip bounds the client-supplied text echoed in a message.
func clip(s string) string {
	const limit = 128
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}
