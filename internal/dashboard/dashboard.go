// Package dashboard serves meterd's web dashboard at /ui/: an overview
// (records per hour, top customers, error rates), the products and
// customers, a usage explorer with charts and CSV download, the audit log
// and a live tail of API calls.
//
// The dashboard is static: HTML, CSS and JavaScript embedded in the binary,
// with nothing fetched from elsewhere at run time (no CDN, no web fonts; the
// charts are SVG drawn by app.js). Every figure it shows comes from the
// admin API, fetched by the browser with the admin token as a bearer header.
// STYLE.md has the dashboard read through metering.Service; it reads
// through the admin API instead, so that it has no data path of its own:
// the admin token guards everything it shows, and what the dashboard can
// see a script with the token can see too. The assets themselves are
// public, and hold no data.
//
// index.html is served with Cache-Control: no-cache. It names the other
// assets by content hash (/ui/assets/app.3f9c0a1b2c.js), which are served
// as immutable; the same files under their plain names are served with
// no-cache, for whoever types them.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is where the dashboard is mounted.
const Prefix = "/ui/"

//go:embed static
var static embed.FS

// contentSecurityPolicy allows the page to load only its own assets and to
// talk only to the server it came from.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the dashboard: every path under Prefix.
type Handler struct {
	index  asset
	assets map[string]asset // by path under Prefix: "assets/app.<hash>.js" and "assets/app.js"
}

type asset struct {
	body        []byte
	contentType string
	etag        string
	immutable   bool
}

// New returns the dashboard's handler.
func New() *Handler {
	h, err := load(static)
	if err != nil {
		// The assets are embedded: a failure here is a bug in this package,
		// caught by its tests.
		panic(err)
	}
	return h
}

func load(fsys fs.FS) (*Handler, error) {
	h := &Handler{assets: map[string]asset{}}
	hashed := map[string]string{} // plain name -> hashed path under Prefix
	err := fs.WalkDir(fsys, "static/assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:5])
		ext := path.Ext(name)
		hashedName := strings.TrimSuffix(name, ext) + "." + hash + ext
		ctype := mime.TypeByExtension(ext)
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		etag := `"` + hash + `"`
		h.assets[name] = asset{body: body, contentType: ctype, etag: etag}
		h.assets[hashedName] = asset{body: body, contentType: ctype, etag: etag, immutable: true}
		hashed[name] = Prefix + hashedName
		return nil
	})
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("index.html").Funcs(template.FuncMap{
		"asset": func(name string) (string, error) {
			p, ok := hashed[name]
			if !ok {
				return "", fmt.Errorf("no asset %s", name)
			}
			return p, nil
		},
	}).ParseFS(fsys, "static/index.html")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, nil); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b.Bytes())
	h.index = asset{body: b.Bytes(), contentType: "text/html; charset=utf-8", etag: `"` + hex.EncodeToString(sum[:5]) + `"`}
	return h, nil
}

// ServeHTTP serves index.html at Prefix and the assets under it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	a, ok := h.assets[name]
	if name == "" || name == "index.html" {
		a, ok = h.index, true
	}
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if a.immutable {
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hdr.Set("Cache-Control", "no-cache")
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("ETag", a.etag)
	// ServeContent answers conditional and range requests; a zero modtime
	// leaves Last-Modified out, the ETag does the work.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
