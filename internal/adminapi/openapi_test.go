package adminapi

import (
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/meterd/meterd/internal/metering"
)

// TestOpenAPIMatchesRoutes keeps openapi.json and the route table equal:
// every route is documented, every documented operation is served by the
// route it names, and only the routes served without a token say so.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI  string                                `json:"openapi"`
		Security []map[string][]string                 `json:"security"`
		Paths    map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if len(doc.Security) != 1 || doc.Security[0]["bearerAuth"] == nil {
		t.Errorf("the document's default security is %v, want bearerAuth", doc.Security)
	}

	documented := map[string]bool{} // "GET /admin/v1/…" -> public
	for path, item := range doc.Paths {
		for method, op := range item {
			if method == "parameters" {
				continue
			}
			var o struct {
				Security *[]any `json:"security"`
			}
			if err := json.Unmarshal(op, &o); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			public := o.Security != nil && len(*o.Security) == 0
			documented[strings.ToUpper(method)+" "+path] = public
		}
	}
	s := New(Options{})
	served := map[string]bool{}
	for _, rt := range routeTable() {
		key := rt.method + " " + rt.pattern
		served[key] = rt.public
		public, ok := documented[key]
		switch {
		case !ok:
			t.Errorf("route %s is not in openapi.json", key)
		case public != rt.public:
			t.Errorf("route %s: public %v, but openapi.json says %v", key, rt.public, public)
		}
	}
	params := regexp.MustCompile(`\{[a-z]+\}`)
	for key := range documented {
		if _, ok := served[key]; !ok {
			t.Errorf("openapi.json documents %s, which no route serves", key)
			continue
		}
		method, path, _ := strings.Cut(key, " ")
		req := httptest.NewRequest(method, params.ReplaceAllString(path, "x"), nil)
		if _, pattern := s.mux.Handler(req); pattern != key {
			t.Errorf("%s is served by %q", key, pattern)
		}
	}
}

// TestOpenAPIRefs checks that every $ref points at a component.
func TestOpenAPIRefs(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				var target any = doc
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := target.(map[string]any)
					target = m[part]
				}
				if target == nil {
					t.Errorf("$ref %s resolves to nothing", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}

// TestKindTable checks that every domain error kind has an admin status.
func TestKindTable(t *testing.T) {
	for k := metering.Kind(0); k.String() != ""; k++ {
		if _, ok := kindErrors[k]; !ok {
			t.Errorf("kind %v has no entry in kindErrors", k)
		}
	}
	codes := []string{CodeUnauthorized, CodeValidation, CodeNotFound, CodeConflict, CodeMethodNotAllowed, CodeUnavailable, CodeInternal}
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Enum []string `json:"enum"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Components.Schemas.Error.Properties.Error.Properties.Code.Enum; !slices.Equal(got, codes) {
		t.Errorf("openapi.json error codes %v, want %v", got, codes)
	}
}
