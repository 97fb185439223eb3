package sigv4test

import (
	"io"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const file = "# client x\n# second comment\n\n" +
		"=== POST / HTTP/1.1\nHost: 127.0.0.1:5392\nContent-Length: 3\nX-Amz-Date: 20261123T032249Z\n\n{}\n\n\n" +
		"=== POST /p?q=1 HTTP/1.1\nHost: 127.0.0.1:5392\nAccept-Encoding: \n\nno length\n\n"
	caps, err := parse("x", file)
	if err != nil {
		t.Fatal(err)
	}
	if len(caps) != 2 {
		t.Fatalf("got %d captures, want 2", len(caps))
	}
	tests := []struct {
		body, host, uri string
		length          int64
		index           int
	}{
		{body: "{}\n", host: "127.0.0.1:5392", uri: "/", length: 3, index: 1},
		{body: "no length", host: "127.0.0.1:5392", uri: "/p?q=1", length: 0, index: 2},
	}
	for i, tt := range tests {
		c := caps[i]
		if string(c.Body) != tt.body || c.Req.Host != tt.host || c.Req.RequestURI != tt.uri ||
			c.Req.ContentLength != tt.length || c.Index != tt.index || c.Client != "x" {
			t.Errorf("capture %d = %+v, body %q", i, c, c.Body)
		}
		b, err := io.ReadAll(c.Req.Body)
		if err != nil || string(b) != tt.body {
			t.Errorf("capture %d: Req.Body reads %q, %v", i, b, err)
		}
	}
	if got := caps[0].Name(); got != "x/1" {
		t.Errorf("Name() = %q", got)
	}
	if caps[0].Time.IsZero() || !caps[1].Time.IsZero() {
		t.Errorf("Time = %v, %v", caps[0].Time, caps[1].Time)
	}
	if _, ok := caps[1].Req.Header["Accept-Encoding"]; !ok {
		t.Error("empty Accept-Encoding header lost")
	}
	if !strings.HasPrefix(string(caps[0].Raw), "POST / HTTP/1.1\r\nHost: 127.0.0.1:5392\r\n") {
		t.Errorf("Raw = %q", caps[0].Raw)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"content-length too short", "=== POST / HTTP/1.1\nHost: h\nContent-Length: 2\n\n{}x\n\n", "body is not 2 bytes long"},
		{"content-length too long", "=== POST / HTTP/1.1\nHost: h\nContent-Length: 9\n\n{}\n\n=== POST / HTTP/1.1\nHost: h\n\n{}\n\n", "body is not 9 bytes long"},
		{"content-length past end", "=== POST / HTTP/1.1\nHost: h\nContent-Length: 99\n\n{}\n\n", "runs past the end"},
		{"stray preamble", "hello\n=== POST / HTTP/1.1\nHost: h\n\n", "unexpected line"},
		{"headers never end", "=== POST / HTTP/1.1\nHost: h\n", "not ended by a blank line"},
		{"bad request line", "=== NOT HTTP\nHost: h\n\n", "net/http cannot read it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse("x", tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadCaptures(t *testing.T) {
	caps := LoadCaptures(t)
	if len(caps) < 11 {
		t.Fatalf("loaded %d captures, want at least the 11 shipped", len(caps))
	}
	for _, c := range caps {
		if c.Req.ContentLength != int64(len(c.Body)) {
			t.Errorf("%s: Content-Length %d, body %d bytes", c.Name(), c.Req.ContentLength, len(c.Body))
		}
		r, err := c.NewRequest()
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		if r == c.Req {
			t.Fatalf("%s: NewRequest returned the shared request", c.Name())
		}
	}
}
