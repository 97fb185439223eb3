package sigv4_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/meterd/meterd/internal/sigv4"
	"github.com/meterd/meterd/internal/sigv4/sigv4test"
)

const (
	akid    = "AKIDGOEXAMPLE"
	secret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	service = "aws-marketplace"
	region  = "us-east-1"
	token   = "FQoGZXIvYXdzEXAMPLEsessionTOKEN//+=="
)

var signTime = time.Date(2026, 11, 23, 3, 22, 49, 0, time.UTC)

var secrets = map[string]string{akid: secret, sigv4test.AccessKeyID: sigv4test.Secret}

func verifier(now time.Time) *sigv4.Verifier {
	return &sigv4.Verifier{
		Service: service,
		Now:     func() time.Time { return now },
		Secret: func(id string) (string, bool) {
			s, ok := secrets[id]
			return s, ok
		},
	}
}

// TestCaptures replays every request real non-Go clients sent.
func TestCaptures(t *testing.T) {
	caps := sigv4test.LoadCaptures(t)
	clients := map[string]int{}
	for _, c := range caps {
		clients[c.Client]++
		t.Run(c.Name(), func(t *testing.T) {
			if c.Time.IsZero() {
				t.Fatal("capture has no X-Amz-Date")
			}
			if c.Req.ContentLength != int64(len(c.Body)) {
				t.Fatalf("ContentLength = %d, body has %d bytes", c.Req.ContentLength, len(c.Body))
			}
			res, err := verifier(c.Time).Verify(c.Req, c.Body)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := sigv4.Result{
				AccessKeyID: sigv4test.AccessKeyID,
				Region:      sigv4test.Region,
				Service:     sigv4test.Service,
				SigningTime: c.Time,
			}
			if res != want {
				t.Errorf("Result = %+v, want %+v", res, want)
			}
		})
	}
	for _, name := range []string{"ruby-aws-sdk", "perl-paws", "r-paws"} {
		if clients[name] == 0 {
			t.Errorf("no captures from %s", name)
		}
	}
}

// clientRequest describes a request an AWS SDK would build and sign.
type clientRequest struct {
	target      string // path and query, default "/"
	body        string
	token       string
	contentHash string // X-Amz-Content-Sha256 set before signing, if any
	service     string
	region      string
	signAt      time.Time
	// after runs on the signed request before it is sent, as SDK middleware
	// that adds headers after signing, or a proxy, would.
	after func(*http.Request)
}

// send signs cr with the SDK signer, writes it to the wire and reads it back
// as a server would, returning the server's view and the body.
func send(t testing.TB, cr clientRequest) (*http.Request, []byte) {
	t.Helper()
	if cr.target == "" {
		cr.target = "/"
	}
	if cr.service == "" {
		cr.service = service
	}
	if cr.region == "" {
		cr.region = region
	}
	if cr.signAt.IsZero() {
		cr.signAt = signTime
	}
	if cr.body == "" {
		cr.body = `{"ProductCode":"prod-123","Timestamp":1795399200,"UsageDimension":"users","UsageQuantity":1}`
	}
	req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:5392"+cr.target, strings.NewReader(cr.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "AWSMPMeteringService.MeterUsage")
	if cr.contentHash != "" {
		req.Header.Set("X-Amz-Content-Sha256", cr.contentHash)
	}
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: cr.token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, sha256Hex(cr.body), cr.service, cr.region, cr.signAt); err != nil {
		t.Fatal(err)
	}
	if cr.after != nil {
		cr.after(req)
	}
	var wire bytes.Buffer
	if err := req.Write(&wire); err != nil {
		t.Fatal(err)
	}
	got, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		t.Fatal(err)
	}
	return got, []byte(cr.body)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

var authParts = regexp.MustCompile(`^AWS4-HMAC-SHA256 (Credential=[^,]*), (SignedHeaders=[^,]*), (Signature=[0-9a-f]{64})$`)

// setAuth rewrites the Authorization header; f receives its three parts.
func setAuth(f func(cred, signed, sig string) string) func(*http.Request) {
	return func(r *http.Request) {
		m := authParts.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil {
			panic("unexpected Authorization: " + r.Header.Get("Authorization"))
		}
		r.Header.Set("Authorization", f(m[1], m[2], m[3]))
	}
}

func TestVerifyAccepts(t *testing.T) {
	tests := []struct {
		name      string
		req       clientRequest
		now       time.Time // default signTime
		wantToken string
	}{
		{name: "plain", req: clientRequest{}},
		{name: "session token", req: clientRequest{token: token}, wantToken: token},
		{name: "unsigned headers added after signing", req: clientRequest{after: func(r *http.Request) {
			r.Header.Set("User-Agent", "aws-sdk-go-v2/1.47.7 os/linux lang/go#1.26.8 api/marketplacemetering#1.45.0")
			r.Header.Set("Amz-Sdk-Invocation-Id", "5f0e6d0c-8c9a-4d7b-9f5e-2f4b8a1c3d2e")
			r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
			r.Header.Set("X-Amzn-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
			r.Header.Set("Accept-Encoding", "")
		}}},
		{name: "session token sent but not signed", req: clientRequest{after: func(r *http.Request) {
			r.Header.Set("X-Amz-Security-Token", token)
		}}},
		{name: "query string", req: clientRequest{target: "/?b=2&a=1&a=0&c=x%20y&d=%2F"}},
		{name: "base path", req: clientRequest{target: "/meterd/base%20path/?x=1"}},
		{name: "empty body", req: clientRequest{body: "{}"}},
		{name: "signed payload hash header", req: clientRequest{contentHash: sha256Hex(`{"ProductCode":"p"}`), body: `{"ProductCode":"p"}`}},
		{name: "parts reordered without spaces", req: clientRequest{after: setAuth(func(c, h, s string) string {
			return "AWS4-HMAC-SHA256 " + s + "," + c + "," + h
		})}},
		{name: "spaces around parts", req: clientRequest{after: setAuth(func(c, h, s string) string {
			return "AWS4-HMAC-SHA256   " + h + " ,  " + c + " , " + s + " "
		})}},
		{name: "upper-case signature", req: clientRequest{after: setAuth(func(c, h, s string) string {
			return "AWS4-HMAC-SHA256 " + c + ", " + h + ", Signature=" + strings.ToUpper(strings.TrimPrefix(s, "Signature="))
		})}},
		{name: "unsigned Date header ignored for time", req: clientRequest{after: func(r *http.Request) {
			r.Header.Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		}}},
		{name: "clock 5 min ahead", req: clientRequest{}, now: signTime.Add(5 * time.Minute)},
		{name: "clock 5 min behind", req: clientRequest{}, now: signTime.Add(-5 * time.Minute)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := send(t, tt.req)
			now := tt.now
			if now.IsZero() {
				now = signTime
			}
			res, err := verifier(now).Verify(r, body)
			if err != nil {
				t.Fatalf("Verify: %v\nAuthorization: %s", err, r.Header.Get("Authorization"))
			}
			want := sigv4.Result{AccessKeyID: akid, Region: region, Service: service, SessionToken: tt.wantToken, SigningTime: signTime}
			if res != want {
				t.Errorf("Result = %+v, want %+v", res, want)
			}
		})
	}
}

func TestVerifyRegionFromScope(t *testing.T) {
	r, body := send(t, clientRequest{region: "eu-west-3"})
	res, err := verifier(signTime).Verify(r, body)
	if err != nil {
		t.Fatal(err)
	}
	if res.Region != "eu-west-3" {
		t.Errorf("Region = %q, want eu-west-3", res.Region)
	}
}

func TestVerifyRefuses(t *testing.T) {
	del := func(h string) func(*http.Request) { return func(r *http.Request) { r.Header.Del(h) } }
	set := func(h, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(h, v) } }
	auth := func(v string) func(*http.Request) { return set("Authorization", v) }
	const goodCred = "Credential=" + akid + "/20261123/us-east-1/aws-marketplace/aws4_request"
	const goodSig = "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	const goodHeaders = "SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target"

	tests := []struct {
		name    string
		req     clientRequest
		body    string // replaces the body the server sees
		now     time.Time
		secrets map[string]string // replaces the key store
		code    string
		message string // a substring the message must contain
	}{
		{name: "tampered body", body: `{"ProductCode":"prod-123","Timestamp":1795399200,"UsageDimension":"users","UsageQuantity":9}`,
			code: sigv4.CodeInvalid, message: "The request signature we calculated does not match the signature you provided."},
		{name: "tampered signed header", req: clientRequest{after: set("X-Amz-Target", "AWSMPMeteringService.BatchMeterUsage")},
			code: sigv4.CodeInvalid, message: "does not match the signature you provided"},
		{name: "tampered host", req: clientRequest{after: func(r *http.Request) { r.Host = "127.0.0.1:5393" }},
			code: sigv4.CodeInvalid, message: "does not match the signature you provided"},
		{name: "tampered query", req: clientRequest{target: "/?a=1", after: func(r *http.Request) { r.URL.RawQuery = "a=2" }},
			code: sigv4.CodeInvalid, message: "does not match the signature you provided"},
		{name: "tampered session token", req: clientRequest{token: token, after: set("X-Amz-Security-Token", token+"x")},
			code: sigv4.CodeInvalid, message: "does not match the signature you provided"},
		{name: "wrong secret", secrets: map[string]string{akid: "not-the-secret"},
			code: sigv4.CodeInvalid, message: "Check your AWS Secret Access Key"},
		{name: "unknown key", secrets: map[string]string{},
			code: sigv4.CodeUnrecognized, message: "The security token included in the request is invalid."},
		{name: "no key store", secrets: nil,
			code: sigv4.CodeUnrecognized, message: "The security token included in the request is invalid."},
		{name: "missing Authorization", req: clientRequest{after: del("Authorization")},
			code: sigv4.CodeMissingToken, message: "Missing Authentication Token"},
		{name: "two Authorization headers", req: clientRequest{after: func(r *http.Request) { r.Header.Add("Authorization", r.Header.Get("Authorization")) }},
			code: sigv4.CodeIncomplete, message: "2 Authorization headers"},
		{name: "other scheme", req: clientRequest{after: auth("Basic QUtJRDpzZWNyZXQ=")},
			code: sigv4.CodeIncomplete, message: "must use the 'AWS4-HMAC-SHA256' algorithm, not 'Basic'"},
		{name: "other algorithm", req: clientRequest{after: auth("AWS4-HMAC-SHA512 " + goodCred + ", " + goodHeaders + ", " + goodSig)},
			code: sigv4.CodeIncomplete, message: "not 'AWS4-HMAC-SHA512'"},
		{name: "algorithm only", req: clientRequest{after: auth("AWS4-HMAC-SHA256 ")},
			code: sigv4.CodeIncomplete, message: "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter."},
		{name: "algorithm glued to parameters", req: clientRequest{after: auth("AWS4-HMAC-SHA256" + goodCred + ", " + goodHeaders + ", " + goodSig)},
			code: sigv4.CodeIncomplete, message: "must use the 'AWS4-HMAC-SHA256' algorithm"},
		{name: "empty parameter", req: clientRequest{after: auth("AWS4-HMAC-SHA256 " + goodCred + ",, " + goodHeaders + ", " + goodSig)},
			code: sigv4.CodeIncomplete, message: "missing equal-sign"},
		{name: "missing Credential", req: clientRequest{after: auth("AWS4-HMAC-SHA256 " + goodHeaders + ", " + goodSig)},
			code: sigv4.CodeIncomplete, message: "Authorization header requires 'Credential' parameter."},
		{name: "missing SignedHeaders", req: clientRequest{after: auth("AWS4-HMAC-SHA256 " + goodCred + ", " + goodSig)},
			code: sigv4.CodeIncomplete, message: "Authorization header requires 'SignedHeaders' parameter."},
		{name: "missing Signature", req: clientRequest{after: auth("AWS4-HMAC-SHA256 " + goodCred + ", " + goodHeaders)},
			code: sigv4.CodeIncomplete, message: "Authorization header requires 'Signature' parameter."},
		{name: "empty Signature", req: clientRequest{after: auth("AWS4-HMAC-SHA256 " + goodCred + ", " + goodHeaders + ", Signature=")},
			code: sigv4.CodeIncomplete, message: "requires 'Signature' parameter"},
		{name: "missing equal-sign", req: clientRequest{after: auth("AWS4-HMAC-SHA256 " + goodCred + ", " + goodHeaders + ", Signature")},
			code: sigv4.CodeIncomplete, message: "missing equal-sign"},
		{name: "duplicate parameter", req: clientRequest{after: auth("AWS4-HMAC-SHA256 " + goodCred + ", " + goodCred + ", " + goodHeaders + ", " + goodSig)},
			code: sigv4.CodeIncomplete, message: "more than one 'Credential'"},
		{name: "unknown parameter", req: clientRequest{after: auth("AWS4-HMAC-SHA256 " + goodCred + ", " + goodHeaders + ", " + goodSig + ", Expires=300")},
			code: sigv4.CodeIncomplete, message: "unknown parameter 'Expires'"},
		{name: "lower-case parameter name", req: clientRequest{after: auth("AWS4-HMAC-SHA256 credential=" + akid + "/20261123/us-east-1/aws-marketplace/aws4_request, " + goodHeaders + ", " + goodSig)},
			code: sigv4.CodeIncomplete, message: "unknown parameter 'credential'"},
		{name: "credential with 4 elements", req: clientRequest{after: auth("AWS4-HMAC-SHA256 Credential=" + akid + "/20261123/us-east-1/aws4_request, " + goodHeaders + ", " + goodSig)},
			code: sigv4.CodeIncomplete, message: "exactly 5 non-empty slash-delimited elements"},
		{name: "credential with empty access key", req: clientRequest{after: auth("AWS4-HMAC-SHA256 Credential=/20261123/us-east-1/aws-marketplace/aws4_request, " + goodHeaders + ", " + goodSig)},
			code: sigv4.CodeIncomplete, message: "exactly 5 non-empty slash-delimited elements"},
		{name: "credential date not yyyymmdd", req: clientRequest{after: auth("AWS4-HMAC-SHA256 Credential=" + akid + "/2026-11-23/us-east-1/aws-marketplace/aws4_request, " + goodHeaders + ", " + goodSig)},
			code: sigv4.CodeIncomplete, message: "Credential date must be in the form yyyyMMdd, not '2026-11-23'"},
		{name: "credential terminator", req: clientRequest{after: auth("AWS4-HMAC-SHA256 Credential=" + akid + "/20261123/us-east-1/aws-marketplace/aws4_reqest, " + goodHeaders + ", " + goodSig)},
			code: sigv4.CodeIncomplete, message: "valid terminator: 'aws4_request', not 'aws4_reqest'"},
		{name: "empty signed header name", req: clientRequest{after: auth("AWS4-HMAC-SHA256 " + goodCred + ", SignedHeaders=host;;x-amz-date, " + goodSig)},
			code: sigv4.CodeIncomplete, message: "';'-separated list"},
		{name: "signature too short", req: clientRequest{after: setAuth(func(c, h, s string) string { return "AWS4-HMAC-SHA256 " + c + ", " + h + ", " + s[:len(s)-1] })},
			code: sigv4.CodeIncomplete, message: "Signature must be 64 hexadecimal characters."},
		{name: "signature not hex", req: clientRequest{after: setAuth(func(c, h, s string) string { return "AWS4-HMAC-SHA256 " + c + ", " + h + ", " + s[:len(s)-1] + "g" })},
			code: sigv4.CodeIncomplete, message: "Signature must be 64 hexadecimal characters."},
		{name: "no date", req: clientRequest{after: del("X-Amz-Date")},
			code: sigv4.CodeIncomplete, message: "requires existence of either a 'X-Amz-Date' or a 'Date' header"},
		{name: "unparseable X-Amz-Date", req: clientRequest{after: set("X-Amz-Date", "2026-11-23T03:22:49Z")},
			code: sigv4.CodeIncomplete, message: "X-Amz-Date must be one date in the ISO 8601 basic format"},
		{name: "unparseable Date", req: clientRequest{after: func(r *http.Request) { r.Header.Del("X-Amz-Date"); r.Header.Set("Date", "yesterday") }},
			code: sigv4.CodeIncomplete, message: "Date must be one date in the form"},
		{name: "wrong service", req: clientRequest{service: "execute-api"},
			code: sigv4.CodeInvalid, message: "Credential should be scoped to correct service: 'aws-marketplace'."},
		{name: "scope date mismatch", req: clientRequest{after: setAuth(func(c, h, s string) string {
			return "AWS4-HMAC-SHA256 " + strings.Replace(c, "/20261123/", "/20261122/", 1) + ", " + h + ", " + s
		})}, code: sigv4.CodeInvalid, message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261122' != '20261123', from '20261123T032249Z'."},
		{name: "host not signed", req: clientRequest{after: setAuth(func(c, h, s string) string {
			return "AWS4-HMAC-SHA256 " + c + ", " + strings.Replace(h, "host;", "", 1) + ", " + s
		})}, code: sigv4.CodeInvalid, message: "'Host' must be a 'SignedHeader'"},
		{name: "too old", now: signTime.Add(5*time.Minute + time.Second),
			code: sigv4.CodeInvalid, message: "Signature expired: 20261123T032249Z is now earlier than 20261123T032250Z (20261123T032750Z - 5 min.)"},
		{name: "too new", now: signTime.Add(-5*time.Minute - time.Second),
			code: sigv4.CodeInvalid, message: "Signature not yet current: 20261123T032249Z is still later than 20261123T032248Z (20261123T031748Z + 5 min.)"},
		{name: "signed payload hash mismatch", req: clientRequest{contentHash: sha256Hex("other")},
			code: sigv4.CodeInvalid, message: "'x-amz-content-sha256' header does not match"},
		{name: "unsigned payload hash mismatch", req: clientRequest{after: set("X-Amz-Content-Sha256", sha256Hex("other"))},
			code: sigv4.CodeInvalid, message: "'x-amz-content-sha256' header does not match"},
		{name: "unsigned payload", req: clientRequest{contentHash: "UNSIGNED-PAYLOAD"},
			code: sigv4.CodeInvalid, message: "'UNSIGNED-PAYLOAD' is not accepted"},
		{name: "signed header missing from request", req: clientRequest{after: del("X-Amz-Target")},
			code: sigv4.CodeInvalid, message: "Header 'x-amz-target' is listed in SignedHeaders but is absent from the request."},
		{name: "signed session token missing", req: clientRequest{token: token, after: del("X-Amz-Security-Token")},
			code: sigv4.CodeInvalid, message: "'x-amz-security-token' is listed in SignedHeaders but is absent"},
		{name: "user-agent signed", req: clientRequest{after: func(r *http.Request) {
			r.Header.Set("User-Agent", "aws-sdk-js/2.1692.0")
			setAuth(func(c, h, s string) string {
				return "AWS4-HMAC-SHA256 " + c + ", " + h + ";user-agent, " + s
			})(r)
		}}, code: sigv4.CodeInvalid, message: "SignedHeaders includes 'user-agent', which this service cannot verify"},
		{name: "Date signed instead of X-Amz-Date", req: clientRequest{after: func(r *http.Request) {
			r.Header.Set("Date", r.Header.Get("X-Amz-Date"))
			r.Header.Del("X-Amz-Date")
			setAuth(func(c, h, s string) string {
				return "AWS4-HMAC-SHA256 " + c + ", SignedHeaders=content-length;content-type;date;host;x-amz-target, " + s
			})(r)
		}}, code: sigv4.CodeInvalid, message: "SignedHeaders must include 'x-amz-date'."},
		{name: "signed headers unsorted", req: clientRequest{after: setAuth(func(c, h, s string) string {
			return "AWS4-HMAC-SHA256 " + c + ", SignedHeaders=x-amz-target;host;content-type;content-length;x-amz-date, " + s
		})}, code: sigv4.CodeInvalid, message: "lower-case, sorted and free of duplicates: expected 'content-length;content-type;host;x-amz-date;x-amz-target'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := send(t, tt.req)
			if tt.body != "" {
				body = []byte(tt.body)
			}
			now := tt.now
			if now.IsZero() {
				now = signTime
			}
			v := verifier(now)
			if tt.name == "no key store" {
				v.Secret = nil
			} else if tt.secrets != nil {
				v.Secret = func(id string) (string, bool) {
					s, ok := tt.secrets[id]
					return s, ok
				}
			}
			res, err := v.Verify(r, body)
			if err == nil {
				t.Fatalf("Verify accepted the request: %+v", res)
			}
			var se *sigv4.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *sigv4.Error", err, err)
			}
			if se.Code != tt.code {
				t.Errorf("Code = %s, want %s (message %q)", se.Code, tt.code, se.Message)
			}
			if !strings.Contains(se.Message, tt.message) {
				t.Errorf("Message = %q, want it to contain %q", se.Message, tt.message)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "not-the-secret") {
				t.Errorf("error reveals the secret: %v", err)
			}
			if res != (sigv4.Result{}) {
				t.Errorf("Result = %+v on error, want zero", res)
			}
		})
	}
}

// TestVerifySecretRotation guards against reusing the SDK signer's derived-key
// cache, which is keyed by access key ID and day but not by secret.
func TestVerifySecretRotation(t *testing.T) {
	current := secret
	v := verifier(signTime)
	v.Secret = func(string) (string, bool) { return current, true }
	r, body := send(t, clientRequest{})
	if _, err := v.Verify(r, body); err != nil {
		t.Fatalf("before rotation: %v", err)
	}
	current = "rotated-secret"
	r, body = send(t, clientRequest{})
	if _, err := v.Verify(r, body); err == nil {
		t.Fatal("a signature made with the rotated-out secret still verifies")
	}
}

func TestVerifyCustomSkew(t *testing.T) {
	r, body := send(t, clientRequest{})
	v := verifier(signTime.Add(90 * time.Second))
	v.Skew = time.Minute
	_, err := v.Verify(r, body)
	var se *sigv4.Error
	if !errors.As(err, &se) || se.Code != sigv4.CodeInvalid || !strings.Contains(se.Message, "(20261123T032419Z - 1 min.)") {
		t.Fatalf("err = %v, want Signature expired with a 1 min window", err)
	}
	v.Skew = 2 * time.Minute
	if _, err := v.Verify(r, body); err != nil {
		t.Fatalf("within a 2 min window: %v", err)
	}
}

func TestVerifyDoesNotReadBody(t *testing.T) {
	r, body := send(t, clientRequest{})
	if _, err := verifier(signTime).Verify(r, body); err != nil {
		t.Fatal(err)
	}
	rest := new(bytes.Buffer)
	if _, err := rest.ReadFrom(r.Body); err != nil {
		t.Fatal(err)
	}
	if rest.String() != string(body) {
		t.Errorf("r.Body after Verify = %q, want the untouched body", rest.String())
	}
	if got := r.Header.Get("X-Amz-Date"); got != "20261123T032249Z" {
		t.Errorf("X-Amz-Date changed to %q", got)
	}
}

func TestErrorString(t *testing.T) {
	err := &sigv4.Error{Code: sigv4.CodeMissingToken, Message: "Missing Authentication Token"}
	if got, want := err.Error(), "MissingAuthenticationTokenException: Missing Authentication Token"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func BenchmarkVerify(b *testing.B) {
	r, body := send(b, clientRequest{token: token, after: func(r *http.Request) {
		r.Header.Set("User-Agent", "aws-sdk-go-v2/1.47.7")
		r.Header.Set("Amz-Sdk-Invocation-Id", "5f0e6d0c-8c9a-4d7b-9f5e-2f4b8a1c3d2e")
	}})
	v := verifier(signTime)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}
