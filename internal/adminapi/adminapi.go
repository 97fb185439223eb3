// Package adminapi is meterd's admin API: JSON under /admin/v1 for a seller
// who manages meterd without editing files. Everything the state file can
// say (accounts and their access keys, products, customers with their
// agreements and entitlements, registration tokens) it can say too, and it
// runs the parts of AWS Marketplace no SDK call reaches: a buyer
// subscribing (with the POST of the registration token to the product's
// fulfillment URL that the buyer's browser makes on AWS) and unsubscribing,
// and the delivery status of webhook notifications.
//
// Every route but GET /admin/v1/openapi.json needs "Authorization: Bearer
// <token>". The API is described by openapi.json in this package, embedded
// and served; a test keeps it and the route table equal.
//
// Handlers go through metering.Service like the AWS operations do, so the
// admin API cannot bypass a rule. Secrets are write-only: no answer carries
// an access key's secret. Errors are JSON, {"error": {"code", "message"}},
// with one table from metering error kinds to HTTP status (errors.go).
//
// Like the state file, the admin API adds and changes but never deletes:
// meterd's stores keep what they were once told, so that usage records
// always name known customers. A customer ends with an unsubscribe or a
// status, an access key by changing its secret.
package adminapi

import (
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/meterd/meterd/internal/metering"
)

// Prefix is where the admin API is mounted.
const Prefix = "/admin/v1"

//go:embed openapi.json
var openAPIDocument []byte

// Options are the admin API's dependencies.
type Options struct {
	Service *metering.Service
	// TokenHash is the SHA-256 of the bearer token every route but the
	// OpenAPI document requires (see SetupToken).
	TokenHash [sha256.Size]byte
	Clock     metering.Clock // default metering.SystemClock
	Logger    *slog.Logger   // default: discard
	// Fulfillment posts registration tokens to fulfillment URLs, as the
	// buyer's browser does. Default: a 10 s timeout, redirects not followed
	// (the answer reports where the page sent the browser).
	Fulfillment *http.Client
	// Test are the test controls and reset (controls.go); nil: none.
	Test *TestControls
	// Visibility serves usage reports, the audit log and the record
	// debugger (reports.go, audit.go, debug.go), and audits every call.
	Visibility Visibility
}

// Server serves the admin API. It is an http.Handler for the paths under
// /admin/.
type Server struct {
	o     Options
	mux   *http.ServeMux
	paths *http.ServeMux // every route's path with any method, to tell 405 from 404
}

// route is one operation of the admin API. The route table is the one place
// operations are declared: New registers it and the tests compare it with
// openapi.json.
type route struct {
	method  string
	pattern string // a Go 1.22 ServeMux path pattern, also the OpenAPI path
	handle  func(*Server, http.ResponseWriter, *http.Request) error
	public  bool // served without the bearer token
}

func routeTable() []route {
	return append([]route{
		{"GET", Prefix + "/openapi.json", (*Server).openAPI, true},

		{"GET", Prefix + "/accounts", (*Server).listAccounts, false},
		{"GET", Prefix + "/accounts/{id}", (*Server).getAccount, false},
		{"PUT", Prefix + "/accounts/{id}", (*Server).putAccount, false},

		{"GET", Prefix + "/products", (*Server).listProducts, false},
		{"GET", Prefix + "/products/{code}", (*Server).getProduct, false},
		{"PUT", Prefix + "/products/{code}", (*Server).putProduct, false},

		{"GET", Prefix + "/customers", (*Server).listCustomers, false},
		{"GET", Prefix + "/products/{code}/customers/{account}", (*Server).getCustomer, false},
		{"PUT", Prefix + "/products/{code}/customers/{account}", (*Server).putCustomer, false},
		{"PUT", Prefix + "/products/{code}/customers/{account}/entitlements", (*Server).putEntitlements, false},

		{"POST", Prefix + "/products/{code}/subscriptions", (*Server).subscribe, false},
		{"POST", Prefix + "/products/{code}/customers/{account}/unsubscribe", (*Server).unsubscribe, false},

		{"GET", Prefix + "/registration-tokens", (*Server).listTokens, false},
		{"POST", Prefix + "/registration-tokens", (*Server).createToken, false},

		{"GET", Prefix + "/key-versions", (*Server).keyVersions, false},
		{"GET", Prefix + "/notifications", (*Server).notifications, false},

		{"GET", Prefix + "/state", (*Server).getState, false},
		{"POST", Prefix + "/state", (*Server).applyState, false},
	}, append(controlsRoutes(), visibilityRoutes()...)...)
}

// New returns the admin API's handler.
func New(o Options) *Server {
	if o.Clock == nil {
		o.Clock = metering.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Fulfillment == nil {
		o.Fulfillment = &http.Client{
			Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	s := &Server{o: o, mux: http.NewServeMux(), paths: http.NewServeMux()}
	seen := map[string]bool{}
	for _, rt := range routeTable() {
		s.mux.Handle(rt.method+" "+rt.pattern, s.audited(rt, s.wrap(rt)))
		if !seen[rt.pattern] {
			seen[rt.pattern] = true
			s.paths.Handle(rt.pattern, http.NotFoundHandler())
		}
	}
	s.mux.Handle("/admin/", s.wrap(route{handle: (*Server).noRoute}))
	return s
}

// ServeHTTP serves the admin API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !rt.public && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="meterd admin"`)
			s.writeError(w, r, errorf(http.StatusUnauthorized, CodeUnauthorized, "This route needs the admin token: Authorization: Bearer <token>."))
			return
		}
		if err := rt.handle(s, w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// authorized compares the SHA-256 of the presented token with the
// configured hash in constant time, so that neither the token nor its
// length leaks through timing.
func (s *Server) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := HashToken(strings.TrimSpace(token))
	return subtle.ConstantTimeCompare(got[:], s.o.TokenHash[:]) == 1
}

// noRoute answers what no route claims: 405 with Allow when the path is
// served with other methods, else 404.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) error {
	probe := r.Clone(r.Context())
	probe.Method = http.MethodGet
	if _, pattern := s.paths.Handler(probe); pattern != "" {
		var allow []string
		for _, rt := range routeTable() {
			if rt.pattern == pattern {
				allow = append(allow, rt.method)
			}
		}
		sort.Strings(allow)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		return errorf(http.StatusMethodNotAllowed, CodeMethodNotAllowed, "%s is not served for %s; use %s.", r.Method, r.URL.Path, strings.Join(allow, " or "))
	}
	return errorf(http.StatusNotFound, CodeNotFound, "No admin route %s. The API is described at %s/openapi.json.", r.URL.Path, Prefix)
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPIDocument)
	return err
}
