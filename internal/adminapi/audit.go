package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/meterd/meterd/internal/audit"
)

// AuditEvents is the answer of GET /audit/events, shaped like CloudTrail's
// LookupEvents: newest first, NextToken for the next page.
type AuditEvents struct {
	Events    []audit.Event `json:"Events"`
	NextToken string        `json:"NextToken,omitempty"`
}

// auditFilter reads the lookup and stream filters from the query.
func auditFilter(q url.Values) (audit.Filter, error) {
	f := audit.Filter{
		EventName:   q.Get("event_name"),
		EventSource: q.Get("event_source"),
		Account:     q.Get("account"),
		AccessKeyID: q.Get("access_key_id"),
		ErrorCode:   q.Get("error_code"),
		NextToken:   q.Get("next_token"),
	}
	var err error
	if f.StartTime, err = parseTime(q, "start_time"); err != nil {
		return f, err
	}
	if f.EndTime, err = parseTime(q, "end_time"); err != nil {
		return f, err
	}
	if v := q.Get("max_results"); v != "" {
		if f.MaxResults, err = strconv.Atoi(v); err != nil || f.MaxResults < 1 || f.MaxResults > audit.MaxResults {
			return f, badParam("max_results", "%q is not a number from 1 to %d", v, audit.MaxResults)
		}
	}
	if err := f.Normalize(); err != nil {
		if errors.Is(err, audit.ErrBadToken) {
			return f, badParam("next_token", "not a token this meterd issued")
		}
		return f, badParam("end_time", "%v", err)
	}
	return f, nil
}

func (s *Server) lookupEvents(w http.ResponseWriter, r *http.Request) error {
	log := s.o.Visibility.Audit
	if log == nil {
		return unavailable("audit log")
	}
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		return err
	}
	page, err := log.Lookup(r.Context(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, AuditEvents{Events: page.Events, NextToken: page.NextToken})
}

// streamPing is how often an idle stream sends a comment, so that proxies
// keep it open and a gone client is noticed.
const streamPing = 15 * time.Second

// streamEvents is a live tail of the audit log as server-sent events: one
// "data: {event}" message per call, filtered like lookups (time filters
// and paging aside).
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	log := s.o.Visibility.Audit
	if log == nil {
		return unavailable("audit log")
	}
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		return err
	}
	f.StartTime, f.EndTime = time.Time{}, time.Time{}
	events, cancel := log.Subscribe(1024)
	defer cancel()
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, ": meterd audit events\n\n"); err != nil {
		return nil
	}
	if rc.Flush() != nil {
		return nil
	}
	ping := time.NewTicker(streamPing)
	defer ping.Stop()
	for {
		var msg []byte
		select {
		case <-r.Context().Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil // the server is shutting down
			}
			if !f.Match(&ev) {
				continue
			}
			b, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			msg = append(append([]byte("data: "), b...), '\n', '\n')
		case <-ping.C:
			msg = []byte(": ping\n\n")
		}
		if _, err := w.Write(msg); err != nil {
			return nil
		}
		if rc.Flush() != nil {
			return nil
		}
	}
}

// maxHeld is the most of an answer the audit wrapper holds back; a larger
// answer (a big state, a long CSV) is recorded without responseElements
// and streamed.
const maxHeld = 1 << 20

// audited records one audit event per call of a route. The answer is held
// until the event is recorded, so that a client that has its answer finds
// the event; a handler that flushes (the event stream) is recorded at its
// first flush and streamed from then on.
func (s *Server) audited(rt route, next http.Handler) http.Handler {
	log := s.o.Visibility.Audit
	if log == nil {
		return next
	}
	name := eventName(rt)
	pathNames := patternNames(rt.pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestID := uuid.NewString()
		w.Header().Set("X-Request-Id", requestID)
		var body bytes.Buffer
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &teeBody{ReadCloser: r.Body, copy: &body}
		}
		aw := &auditWriter{w: w}
		aw.record = func() {
			ev := audit.Event{
				EventVersion:    audit.EventVersion,
				EventTime:       s.now(), // CloudTrail: when the request completed
				EventSource:     audit.SourceAdmin,
				EventName:       name,
				SourceIPAddress: remoteIP(r),
				UserAgent:       clip(r.UserAgent(), 512),
				UserIdentity:    audit.UserIdentity{Type: audit.IdentityAdmin},
				RequestID:       requestID,
				EventID:         uuid.NewString(),
				EventType:       audit.TypeAdminCall,
				ReadOnly:        rt.method == http.MethodGet,
			}
			if s.o.Service != nil {
				ev.AWSRegion = s.o.Service.Config().Region
			}
			switch {
			case aw.status == http.StatusUnauthorized:
				ev.UserIdentity.Type = audit.IdentityUnknown
			case rt.public:
				ev.UserIdentity.Type = audit.IdentityAnonymous
			}
			ev.RequestParameters = adminParameters(r, pathNames, body.Bytes())
			if aw.status >= 400 {
				ev.ErrorCode, ev.ErrorMessage = adminError(aw.status, aw.held.Bytes(), aw.streaming)
			} else if !ev.ReadOnly && !aw.streaming {
				ev.ResponseElements = audit.RedactJSON(aw.held.Bytes())
			}
			log.Record(ev, nil)
		}
		next.ServeHTTP(aw, r)
		aw.finish()
	})
}

// eventName names a route's events after its handler: listAccounts is
// ListAccounts, as in AWS's APIs.
func eventName(rt route) string {
	name := runtime.FuncForPC(reflect.ValueOf(rt.handle).Pointer()).Name()
	name = strings.TrimSuffix(name[strings.LastIndexByte(name, '.')+1:], "-fm")
	if name == "" {
		return rt.method + " " + rt.pattern
	}
	r := []rune(name)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

var patternName = regexp.MustCompile(`\{([a-zA-Z_]+)\}`)

func patternNames(pattern string) []string {
	var names []string
	for _, m := range patternName.FindAllStringSubmatch(pattern, -1) {
		names = append(names, m[1])
	}
	return names
}

// adminParameters are a call's path values, query and JSON body, merged
// and redacted. A body that is not JSON (a YAML state file, which carries
// secrets) is kept as its size only.
func adminParameters(r *http.Request, pathNames []string, body []byte) json.RawMessage {
	params := map[string]any{}
	for name, vs := range r.URL.Query() {
		if len(vs) == 1 {
			params[name] = vs[0]
		} else {
			params[name] = vs
		}
	}
	if trimmed := bytes.TrimSpace(body); len(trimmed) > 0 {
		var v any
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.UseNumber()
		switch {
		case len(trimmed) > audit.MaxElementBytes:
			params["body"] = fmt.Sprintf("%d bytes, larger than the audit log keeps", len(trimmed))
		case dec.Decode(&v) == nil && !dec.More():
			if obj, ok := v.(map[string]any); ok {
				for k, x := range obj {
					params[k] = x
				}
			} else {
				params["body"] = v
			}
		default:
			params["body"] = fmt.Sprintf("%d bytes of %s, not kept", len(trimmed), orDefault(r.Header.Get("Content-Type"), "unknown type"))
		}
	}
	for _, name := range pathNames {
		params[name] = r.PathValue(name)
	}
	if len(params) == 0 {
		return nil
	}
	return audit.Marshal(audit.Redact(params))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// adminError reads the error of an answer, as writeError wrote it.
func adminError(status int, body []byte, streamed bool) (code, message string) {
	var env struct {
		Error *Error `json:"error"`
	}
	if !streamed && json.Unmarshal(body, &env) == nil && env.Error != nil && env.Error.Code != "" {
		return env.Error.Code, env.Error.Message
	}
	return "http_" + strconv.Itoa(status), http.StatusText(status)
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// teeBody keeps a copy of what the handler reads of the request body, up
// to just past the audit log's limit.
type teeBody struct {
	io.ReadCloser
	copy *bytes.Buffer
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if room := audit.MaxElementBytes + 1 - t.copy.Len(); room > 0 {
		t.copy.Write(p[:min(n, room)])
	}
	return n, err
}

// auditWriter holds an answer until the call's event is recorded.
type auditWriter struct {
	w         http.ResponseWriter
	record    func()
	status    int
	held      bytes.Buffer
	recorded  bool
	streaming bool // the answer goes straight through
}

func (a *auditWriter) Header() http.Header { return a.w.Header() }

func (a *auditWriter) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
	if a.streaming {
		a.w.WriteHeader(status)
	}
}

func (a *auditWriter) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.streaming {
		return a.w.Write(b)
	}
	if a.held.Len()+len(b) > maxHeld {
		a.stream()
		return a.w.Write(b)
	}
	return a.held.Write(b)
}

// Flush records the event and streams from then on.
func (a *auditWriter) Flush() {
	a.stream()
	_ = http.NewResponseController(a.w).Flush()
}

// Unwrap lets http.ResponseController reach the connection (write
// deadlines for streams).
func (a *auditWriter) Unwrap() http.ResponseWriter { return a.w }

// stream records the event and sends what is held.
func (a *auditWriter) stream() {
	if a.streaming {
		return
	}
	a.streaming = true
	if a.status == 0 {
		a.status = http.StatusOK
	}
	a.once()
	a.w.WriteHeader(a.status)
	a.w.Write(a.held.Bytes())
	a.held.Reset()
}

func (a *auditWriter) once() {
	if !a.recorded {
		a.recorded = true
		a.record()
	}
}

// finish records the event, if a flush did not, and sends the answer.
func (a *auditWriter) finish() {
	if a.streaming {
		a.once()
		return
	}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	a.once()
	a.w.WriteHeader(a.status)
	a.w.Write(a.held.Bytes())
}
