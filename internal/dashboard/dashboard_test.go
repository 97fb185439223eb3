package dashboard_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/meterd/meterd/internal/dashboard"
)

func get(t *testing.T, h http.Handler, method, path string, header ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var assetRef = regexp.MustCompile(`(?:href|src)="(/ui/assets/[^"]+)"`)

// TestDashboardIndexNamesHashedAssets: index.html is revalidated on every
// load, and the assets it names carry their content hash and are cached
// for good.
func TestDashboardIndexNamesHashedAssets(t *testing.T) {
	h := dashboard.New()
	for _, path := range []string{"/ui/", "/ui/index.html"} {
		resp := get(t, h, "GET", path)
		page := body(t, resp)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", path, got)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
		refs := assetRef.FindAllStringSubmatch(page, -1)
		if len(refs) < 3 {
			t.Fatalf("index.html names %d assets, want the script, the style sheet and the icon:\n%s", len(refs), page)
		}
		for _, ref := range refs {
			if !regexp.MustCompile(`\.[0-9a-f]{10}\.(js|css|svg)$`).MatchString(ref[1]) {
				t.Errorf("asset %s carries no content hash", ref[1])
			}
			a := get(t, h, "GET", ref[1])
			if a.StatusCode != 200 {
				t.Fatalf("GET %s: %d", ref[1], a.StatusCode)
			}
			if got := a.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
				t.Errorf("GET %s: Cache-Control %q, want immutable", ref[1], got)
			}
		}
	}
}

func TestDashboardServing(t *testing.T) {
	h := dashboard.New()
	tests := []struct {
		name, method, path string
		header             []string
		status             int
		contentType        string
		cache              string
	}{
		{"PlainAssetName", "GET", "/ui/assets/app.js", nil, 200, "text/javascript", "no-cache"},
		{"StyleSheet", "GET", "/ui/assets/app.css", nil, 200, "text/css", "no-cache"},
		{"Icon", "HEAD", "/ui/assets/icon.svg", nil, 200, "image/svg+xml", "no-cache"},
		{"StaleHash", "GET", "/ui/assets/app.0000000000.js", nil, 404, "", ""},
		{"Unknown", "GET", "/ui/secrets", nil, 404, "", ""},
		{"Directory", "GET", "/ui/assets/", nil, 404, "", ""},
		{"Post", "POST", "/ui/", nil, 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, tt.method, tt.path, tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			}
			if tt.contentType != "" && !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.contentType) {
				t.Errorf("Content-Type %q, want %s", resp.Header.Get("Content-Type"), tt.contentType)
			}
			if tt.cache != "" && resp.Header.Get("Cache-Control") != tt.cache {
				t.Errorf("Cache-Control %q, want %q", resp.Header.Get("Cache-Control"), tt.cache)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
		})
	}
	t.Run("NotModified", func(t *testing.T) {
		first := get(t, h, "GET", "/ui/")
		etag := first.Header.Get("ETag")
		if etag == "" {
			t.Fatal("index.html has no ETag")
		}
		if again := get(t, h, "GET", "/ui/", "If-None-Match", etag); again.StatusCode != 304 {
			t.Fatalf("If-None-Match %s: %d, want 304", etag, again.StatusCode)
		}
	})
}

// TestDashboardFetchesNothingExternal: the assets name no other host, so
// the dashboard works offline and leaks nothing to third parties. The SVG
// namespace is a name, not a fetch.
func TestDashboardFetchesNothingExternal(t *testing.T) {
	allowed := strings.NewReplacer("http://www.w3.org/2000/svg", "")
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|@font-face|\burl\(\s*['"]?(https?:|//)`)
	err := filepath.WalkDir("static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(allowed.Replace(string(b)), "\n") {
			if m := external.FindString(line); m != "" {
				t.Errorf("%s:%d refers to %q", path, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDashboardScriptParses checks app.js's syntax with node when it is
// installed; the end-to-end test runs it in Chromium.
func TestDashboardScriptParses(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	if out, err := exec.Command(node, "--check", filepath.Join("static", "assets", "app.js")).CombinedOutput(); err != nil {
		t.Fatalf("node --check app.js: %v\n%s", err, out)
	}
}
