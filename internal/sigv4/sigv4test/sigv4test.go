// Package sigv4test gives tests the real client requests kept in
// shared/wire-captures, parsed the way meterd's HTTP server would read them.
// Several packages replay them (signature verification, the wire protocol,
// the operations), so the parser lives once, here.
package sigv4test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Credentials every capture was signed with (wire-captures/README.md).
const (
	AccessKeyID = "AKIDEXAMPLE"
	Secret      = "secret"
	Region      = "us-east-1"
	Service     = "aws-marketplace"
)

// SharedDir returns the project's shared reference directory: $METERD_SHARED
// when set, else ../shared next to the module root (the directory holding
// go.mod, found by walking up from the working directory). A missing
// directory fails the test rather than skipping it: the captures are the
// evidence that real clients work, and a silent skip would hide their loss.
func SharedDir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("METERD_SHARED"); dir != "" {
		mustBeDir(t, dir, "METERD_SHARED")
		return dir
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("sigv4test: working directory: %v", err)
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			shared := filepath.Join(filepath.Dir(dir), "shared")
			mustBeDir(t, shared, "the shared directory next to the module root")
			return shared
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("sigv4test: no go.mod above %s; set METERD_SHARED to the shared directory", wd)
		}
		dir = parent
	}
}

func mustBeDir(t testing.TB, dir, what string) {
	t.Helper()
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		t.Fatalf("sigv4test: %s (%s) is not a directory: %v; set METERD_SHARED to the shared directory", what, dir, err)
	}
}

// Capture is one request a real client sent.
type Capture struct {
	// Client is the capture file's base name, e.g. "perl-paws".
	Client string
	// Index is the request's 1-based position in its file.
	Index int
	// Raw is the request as it crossed the wire: the captured request line
	// and headers with CRLF line ends, a blank line, then the body byte for
	// byte.
	Raw []byte
	// Req is Raw as net/http's server reads it: Host promoted to Req.Host,
	// header keys canonical, ContentLength set. Its Body reads Body once;
	// use NewRequest for a fresh copy.
	Req *http.Request
	// Body is the request body.
	Body []byte
	// Time is the request's X-Amz-Date, the clock to verify it with.
	Time time.Time
}

// Name identifies the capture in subtest names, e.g. "perl-paws/2".
func (c Capture) Name() string { return c.Client + "/" + strconv.Itoa(c.Index) }

// NewRequest parses Raw again, so each caller gets its own request and body.
func (c Capture) NewRequest() (*http.Request, error) {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(c.Raw)))
	if err != nil {
		return nil, err
	}
	// Without Content-Length net/http reads no body; the capture still has one.
	req.Body = io.NopCloser(bytes.NewReader(c.Body))
	return req, nil
}

// LoadCaptures parses every *.txt file in SharedDir(t)/wire-captures.
func LoadCaptures(t testing.TB) []Capture {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(SharedDir(t), "wire-captures", "*.txt"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("sigv4test: no wire captures found (%v)", err)
	}
	slices.Sort(paths)
	var all []Capture
	for _, p := range paths {
		all = append(all, ParseCaptures(t, p)...)
	}
	return all
}

// ParseCaptures parses one capture file: '#' comment lines, then blocks that
// each start with "=== " and the request line, followed by header lines, a
// blank line and the body; blocks are separated by a blank line. With a
// Content-Length the body is exactly that many bytes and must be followed by
// the separator, which proves the length right; without one the body runs to
// the separator.
func ParseCaptures(t testing.TB, path string) []Capture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("sigv4test: %v", err)
	}
	client := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	caps, err := parse(client, string(data))
	if err != nil {
		t.Fatalf("sigv4test: %s: %v", path, err)
	}
	if len(caps) == 0 {
		t.Fatalf("sigv4test: %s holds no requests", path)
	}
	return caps
}

const (
	marker    = "=== "
	separator = "\n\n"
)

func parse(client, data string) ([]Capture, error) {
	pos := 0
	line := func() string {
		end := strings.IndexByte(data[pos:], '\n')
		if end < 0 {
			l := data[pos:]
			pos = len(data)
			return l
		}
		l := data[pos : pos+end]
		pos += end + 1
		return l
	}
	for pos < len(data) && !strings.HasPrefix(data[pos:], marker) {
		if l := line(); l != "" && !strings.HasPrefix(l, "#") {
			return nil, fmt.Errorf("unexpected line before the first request: %q", l)
		}
	}

	var caps []Capture
	for pos < len(data) {
		n := len(caps) + 1
		if !strings.HasPrefix(data[pos:], marker) {
			return nil, fmt.Errorf("request %d: expected %q at byte %d", n, marker, pos)
		}
		requestLine := strings.TrimPrefix(line(), marker)
		var head []string
		contentLength := -1
		for {
			if pos >= len(data) {
				return nil, fmt.Errorf("request %d: headers not ended by a blank line", n)
			}
			l := line()
			if l == "" {
				break
			}
			head = append(head, l)
			if name, value, ok := strings.Cut(l, ":"); ok && strings.EqualFold(name, "Content-Length") {
				v, err := strconv.Atoi(strings.TrimSpace(value))
				if err != nil || v < 0 {
					return nil, fmt.Errorf("request %d: bad Content-Length %q", n, value)
				}
				contentLength = v
			}
		}

		var body string
		if contentLength >= 0 {
			if pos+contentLength > len(data) {
				return nil, fmt.Errorf("request %d: Content-Length %d runs past the end of the file", n, contentLength)
			}
			body = data[pos : pos+contentLength]
			pos += contentLength
			rest := data[pos:]
			switch {
			case strings.HasPrefix(rest, separator+marker):
				pos += len(separator)
			case rest == separator || rest == "\n" || rest == "":
				pos = len(data)
			default:
				return nil, fmt.Errorf("request %d: body is not %d bytes long (Content-Length): %q follows it", n, contentLength, clip(rest))
			}
		} else {
			end := strings.Index(data[pos:], separator+marker)
			if end < 0 {
				body = strings.TrimSuffix(data[pos:], separator)
				pos = len(data)
			} else {
				body = data[pos : pos+end]
				pos += end + len(separator)
			}
		}

		var raw bytes.Buffer
		raw.WriteString(requestLine + "\r\n")
		for _, h := range head {
			raw.WriteString(h + "\r\n")
		}
		raw.WriteString("\r\n")
		raw.WriteString(body)
		c := Capture{Client: client, Index: n, Raw: raw.Bytes(), Body: []byte(body)}
		req, err := c.NewRequest()
		if err != nil {
			return nil, fmt.Errorf("request %d: net/http cannot read it: %v", n, err)
		}
		c.Req = req
		if d := req.Header.Get("X-Amz-Date"); d != "" {
			if c.Time, err = time.Parse("20060102T150405Z", d); err != nil {
				return nil, fmt.Errorf("request %d: X-Amz-Date: %v", n, err)
			}
		}
		caps = append(caps, c)
	}
	return caps, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
